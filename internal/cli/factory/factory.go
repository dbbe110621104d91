// Package factory gives commands their dependencies, built lazily from the
// resolved configuration: streams, logger, NATS connection, clock.
package factory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/output"
	config "github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// Factory is shared by every command of one process.
type Factory struct {
	IOStreams *iostreams.IOStreams
	Now       func() time.Time

	// Set by the root command before a command runs.
	Cfg    *config.Config
	Format output.Format
	Logger *slog.Logger
}

// New returns a factory for the process's stdio.
func New(io *iostreams.IOStreams) *Factory {
	return &Factory{IOStreams: io, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
}

// Config returns the resolved configuration (loaded by the root command).
func (f *Factory) Config() *config.Config {
	if f.Cfg == nil {
		c, err := config.Load("", pflag.NewFlagSet("none", pflag.ContinueOnError))
		if err != nil {
			panic(err) // only reachable from tests that skip the root command
		}
		f.Cfg = c
	}
	return f.Cfg
}

// NATSOptions builds connection options from the configuration.
func (f *Factory) NATSOptions(name string) (natsconn.Options, error) {
	c := f.Config()
	insecure, err := c.Bool("nats-insecure")
	if err != nil {
		return natsconn.Options{}, err
	}
	return natsconn.Options{
		Host:       c.String("nats-host"),
		User:       c.String("nats-user"),
		Password:   c.String("nats-password"),
		CAFile:     c.String("nats-ca"),
		CAContents: c.String("nats-ca-contents"),
		Insecure:   insecure,
		Name:       name,
		Logger:     f.Logger,
	}, nil
}

// ServiceNATSOptions are NATSOptions for long-running services (serve,
// gameserver, kv watch): they never give up reconnecting, rather than
// lingering half-alive after the Rust default of 10 attempts.
func (f *Factory) ServiceNATSOptions(name string) (natsconn.Options, error) {
	o, err := f.NATSOptions(name)
	o.MaxReconnects = -1
	return o, err
}

// NATS connects to the configured NATS server.
func (f *Factory) NATS(ctx context.Context, name string) (*nats.Conn, error) {
	o, err := f.NATSOptions(name)
	if err != nil {
		return nil, err
	}
	return natsconn.Connect(ctx, o)
}

// ServiceNATS connects like NATS, reconnecting forever (ServiceNATSOptions).
func (f *Factory) ServiceNATS(ctx context.Context, name string) (*nats.Conn, error) {
	o, err := f.ServiceNATSOptions(name)
	if err != nil {
		return nil, err
	}
	return natsconn.Connect(ctx, o)
}

// Names returns the (possibly namespaced) NATS names.
func (f *Factory) Names() (state.Names, error) {
	return state.NewNames(f.Config().String("nats-namespace"))
}

// Store connects to NATS and opens the compat buckets. Close the connection
// when done.
func (f *Factory) Store(ctx context.Context, name string) (*state.Store, *nats.Conn, error) {
	return f.store(ctx, name, f.NATS)
}

// ServiceStore is Store for long-running services (reconnects forever).
func (f *Factory) ServiceStore(ctx context.Context, name string) (*state.Store, *nats.Conn, error) {
	return f.store(ctx, name, f.ServiceNATS)
}

func (f *Factory) store(ctx context.Context, name string, connect func(context.Context, string) (*nats.Conn, error)) (*state.Store, *nats.Conn, error) {
	names, err := f.Names()
	if err != nil {
		return nil, nil, err
	}
	nc, err := connect(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	s, err := state.Open(ctx, nc, names)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return s, nc, nil
}

// EdgegapOptions are extra client settings for one command.
type EdgegapOptions struct {
	OnCall func(endpoint string, status int)
	Budget *edgegap.Budget
}

// Edgegap builds an Edgegap API client from edgegap-url and edgegap-api-key.
// A missing key is an AuthError (exit 4).
func (f *Factory) Edgegap(o EdgegapOptions) (*edgegap.Client, error) {
	c := f.Config()
	key := c.String("edgegap-api-key")
	if key == "" {
		return nil, &AuthError{Err: errors.New("no Edgegap API key: set EDGEGAP_API_KEY (or --edgegap-api-key); for the simulator use 'token bevygap-dev'")}
	}
	budget := o.Budget
	if budget == nil {
		var err error
		if budget, err = f.EdgegapBudget(); err != nil {
			return nil, err
		}
	}
	cl, err := edgegap.New(edgegap.Config{BaseURL: strings.TrimRight(c.String("edgegap-url"), "/"), APIKey: key, Logger: f.Logger, OnCall: o.OnCall, Budget: budget})
	if err != nil {
		return nil, fmt.Errorf("edgegap client: %w", err)
	}
	return cl, nil
}

// EdgegapBudget is the process-wide Edgegap rate budget from
// edgegap-create-rate and edgegap-status-rate (0 = unlimited).
func (f *Factory) EdgegapBudget() (*edgegap.Budget, error) {
	c := f.Config()
	create, err := c.Int("edgegap-create-rate", 0, 100000)
	if err != nil {
		return nil, err
	}
	status, err := c.Int("edgegap-status-rate", 0, 100000)
	if err != nil {
		return nil, err
	}
	// The 2026 deployment classes have no settings yet: Edgegap's limits.
	budget := edgegap.DefaultBudgetConfig()
	budget.Create = edgegap.Limit{PerSecond: float64(create), Burst: 1}
	budget.Status = edgegap.Limit{PerSecond: float64(status), Burst: 1}
	return edgegap.NewBudget(budget)
}

// Theme is the output theme for this process.
func (f *Factory) Theme() output.Theme { return output.NewTheme(f.IOStreams) }

// Confirm asks before a destructive action: on a terminal it prompts, off a
// terminal it requires yes (--yes) and otherwise returns a usage error.
func (f *Factory) Confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	if !f.IOStreams.CanPrompt() {
		return UsageErrorf("%s: refusing without --yes when not on a terminal", strings.TrimSuffix(question, "?"))
	}
	ok, err := f.IOStreams.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCancelled
	}
	return nil
}

// UsageError is a mistake in how a command was called (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// UsageErrorf builds a UsageError.
func UsageErrorf(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// ErrCancelled means the user declined; nothing was done.
var ErrCancelled = errors.New("cancelled")

// SilentError carries an exit code after the command already printed its result.
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// AuthError is refused or missing credentials (exit 4).
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// ExitError is a failure with its own exit code (e.g. 124 for a timeout).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }
