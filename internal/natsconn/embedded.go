package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configures an in-process nats-server with JetStream.
type EmbeddedOptions struct {
	// Listen is "host:port" for clients; "" serves in-process connections only.
	// Port 0 or -1 picks a free port.
	Listen string
	// StoreDir is the JetStream store directory (required).
	StoreDir string
	// User and Password, when set, are required from every client.
	User     string
	Password string
	// TLSCert and TLSKey (PEM files) turn on TLS for clients that connect over TCP.
	TLSCert string
	TLSKey  string
	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
	// ServerName shows up in server info; default "bevygap".
	ServerName string
}

// Embedded is a running in-process nats-server.
type Embedded struct {
	srv      *server.Server
	inProc   bool
	user     string
	password string
}

// StartEmbedded starts a nats-server with JetStream in this process. It owns
// no signal handlers (NoSigs): the caller decides when to Shutdown.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("%w: embedded nats-server needs a JetStream store directory", ErrConfig)
	}
	if (o.User == "") != (o.Password == "") {
		return nil, fmt.Errorf("%w: embedded nats-server user and password go together", ErrConfig)
	}
	name := o.ServerName
	if name == "" {
		name = "bevygap"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
		Username:   o.User,
		Password:   o.Password,
	}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("%w: nats listen address %q: want host:port", ErrConfig, o.Listen)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < -1 || p > 65535 {
			return nil, fmt.Errorf("%w: nats listen port %q must be 0..65535", ErrConfig, port)
		}
		if p == 0 {
			p = -1
		}
		opts.Host, opts.Port = host, p
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("%w: nats tls cert/key: %v", ErrConfig, err)
		}
		opts.TLSConfig = tc
		opts.TLS = true
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded nats-server: %w", err)
	}
	if o.Logger != nil {
		srv.SetLoggerV2(&slogAdapter{l: o.Logger.With("component", "nats-server")}, false, false, false)
	}
	go srv.Start() // Start returns once the server runs; Shutdown stops it.
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if o.Listen != "" {
			return nil, fmt.Errorf("%w: embedded nats-server did not start on %s (port in use?)", ErrUnreachable, o.Listen)
		}
		return nil, errors.New("embedded nats-server did not start")
	}
	return &Embedded{srv: srv, inProc: o.Listen == "", user: o.User, password: o.Password}, nil
}

// ClientURL is the nats:// URL TCP clients use, or "" for an in-process-only server.
func (e *Embedded) ClientURL() string {
	if e.inProc {
		return ""
	}
	return e.srv.ClientURL()
}

// Server exposes the underlying server (tests, monitoring).
func (e *Embedded) Server() *server.Server { return e.srv }

// Connect opens a client connection to the embedded server, always
// in-process: it needs no port, no TLS trust and no network.
func (e *Embedded) Connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.InProcessServer(e.srv)}, extra...)
	if e.user != "" {
		opts = append(opts, nats.UserInfo(e.user, e.password))
	}
	return nats.Connect("", opts...)
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

type slogAdapter struct{ l *slog.Logger }

func (a *slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Tracef(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
