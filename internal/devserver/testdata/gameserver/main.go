// Command gameserver is the game server of devserver's and dev's tests: a
// small Go program that does what a developer's game server does under
// `bevygap dev --gameserver-cmd`: it reads the ARBITRIUM_* and NATS_*
// environment (and --ca_contents), runs the Go game-server agent
// (pkg/gameserver) and a netcode UDP server (internal/simserver) on
// BEVYGAP_GAME_ADDR, and serves until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func main() {
	pidFile := flag.String("pidfile", "", "write the process id here")
	exitAfter := flag.Duration("exit-after", 0, "exit with status 3 this long after the agent started")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM (only SIGKILL stops it)")
	flag.String("ca_contents", "", "NATS root CA (the Rust plugin's docker argument)")
	flag.Parse()
	if err := run(*pidFile, *exitAfter, *ignoreTerm); err != nil {
		fmt.Fprintln(os.Stderr, "gameserver:", err)
		os.Exit(1)
	}
}

func run(pidFile string, exitAfter time.Duration, ignoreTerm bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return err
		}
	}
	env, err := gameserver.ReadEnv(os.Getenv)
	if err != nil {
		return err
	}
	ca, _ := gameserver.CAFromArgs(os.Args)
	nc, err := natsconn.Connect(ctx, natsconn.Options{
		Host: os.Getenv("NATS_HOST"), Insecure: os.Getenv("NATS_INSECURE") != "", CAContents: ca,
		User: os.Getenv("NATS_USER"), Password: os.Getenv("NATS_PASSWORD"), Name: "bevygap_server_plugin",
	})
	if err != nil {
		return err
	}
	defer nc.Close()
	names, err := state.NewNames(os.Getenv("BEVYGAP_NATS_NAMESPACE"))
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, nc, names)
	if err != nil {
		return err
	}
	key, err := netcode.ParsePrivateKey(os.Getenv("LIGHTYEAR_PRIVATE_KEY"))
	if err != nil {
		return err
	}
	pid, err := strconv.ParseUint(os.Getenv("BEVYGAP_LIGHTYEAR_PROTOCOL_ID"), 10, 64)
	if err != nil {
		return err
	}
	public, ok := env.PublicAddr("")
	if !ok {
		return fmt.Errorf("no public address in %s", gameserver.EnvPortsMapping)
	}
	cert, err := gameserver.SelfSignedCert("localhost", env.PublicIP.String())
	if err != nil {
		return err
	}
	agent, err := gameserver.NewAgent(gameserver.AgentConfig{Store: store, NC: nc, Env: env, CertDigest: cert.Digest})
	if err != nil {
		return err
	}
	defer agent.Close()
	srv, err := simserver.Listen(ctx, simserver.ServerConfig{
		Addr: os.Getenv("BEVYGAP_GAME_ADDR"), PublicAddr: public, PrivateKey: key, ProtocolID: pid, Admitter: agent,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := agent.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("listening on udp %s, pid %d, ca %t\n", srv.Addr(), os.Getpid(), ca != "")
	var exit <-chan time.Time
	if exitAfter > 0 {
		exit = time.After(exitAfter)
	}
	select {
	case <-ctx.Done():
		fmt.Println("stopping on SIGTERM")
		return nil
	case <-exit:
		fmt.Println("exiting on purpose")
		os.Exit(3)
	}
	return nil
}
