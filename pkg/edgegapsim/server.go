package edgegapsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a Simulator served over HTTP on a local address.
type Server struct {
	*Simulator
	srv  *http.Server
	url  string
	done chan struct{}
}

// Start creates a Simulator and serves it on cfg.ListenAddr (default
// 127.0.0.1:0, a free loopback port). ctx only bounds the setup; the server
// runs until Close. When cfg.BaseURL is empty the simulator's base URL is
// the listening URL.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	sim, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", sim.cfg.ListenAddr)
	if err != nil {
		_ = sim.Close()
		return nil, fmt.Errorf("edgegapsim: listen: %w", err)
	}
	s := &Server{
		Simulator: sim,
		url:       "http://" + ln.Addr().String(),
		done:      make(chan struct{}),
	}
	if sim.BaseURL() == "" {
		sim.SetBaseURL(s.url)
	}
	s.srv = &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(sim.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sim.log.Error("edgegapsim: serve", "err", err)
		}
	}()
	return s, nil
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// Close stops the HTTP server and the simulator, waiting for all their
// goroutines.
func (s *Server) Close() error {
	s.beginClose()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	if cerr := s.Simulator.Close(); err == nil {
		err = cerr
	}
	return err
}
