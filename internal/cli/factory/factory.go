// Package factory gives commands their dependencies, built from the typed
// settings through the composition root (internal/app): streams, logger,
// NATS connection, Edgegap client, clock.
package factory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// Annotations a command sets to tell the root how to load its settings.
const (
	// AnnotationPreset names a settings preset ("dev": app.DevPreset).
	AnnotationPreset = "bevygap/settings-preset"
	// AnnotationKeys lists, comma-separated, settings the command reads
	// without a flag of its own (checked like its flags' settings).
	AnnotationKeys = "bevygap/settings-keys"
	// AnnotationNoContext keeps the selected context out of a command's
	// settings (the context commands themselves).
	AnnotationNoContext = "bevygap/no-context"
)

// Factory is shared by every command of one process. It does not read the
// process environment: Env is given to it (cli.Main passes the process's,
// tests their own), so command tests can run in parallel.
type Factory struct {
	IOStreams *iostreams.IOStreams
	Now       func() time.Time
	// Env is the environment and working directory settings are loaded from
	// (with the .env file's variables below the real ones, once read).
	Env        settings.Env
	DotEnvRead bool

	// Set by the root command before a command runs.
	Settings *settings.Loaded
	Format   output.Format
	Logger   *slog.Logger
	// JQ filters stdout when --jq is given (closed by the root).
	JQ *output.Filter
	// Prepare loads the settings for a command as its run would; dynamic
	// completions call it (cobra does not run the root's pre-run for them).
	Prepare func(cmd *cobra.Command) error
}

// New returns a factory for the given streams and environment.
func New(io *iostreams.IOStreams, env settings.Env) *Factory {
	return &Factory{IOStreams: io, Now: time.Now, Env: env, Logger: slog.New(slog.DiscardHandler)}
}

// S returns the typed settings (loaded by the root command).
func (f *Factory) S() *settings.Settings {
	if f.Settings == nil {
		panic("factory: settings read before the root command loaded them") // programming error
	}
	return &f.Settings.Settings
}

// PrepareCompletion loads the settings for a dynamic completion of cmd
// (Prepare, set by the root command).
func (f *Factory) PrepareCompletion(cmd *cobra.Command) error {
	if f.Prepare == nil {
		return errors.New("factory: no root command to load settings")
	}
	return f.Prepare(cmd)
}

// NATSOptions builds connection options from the settings.
func (f *Factory) NATSOptions(name string) natsconn.Options {
	return app.NATSOptions(f.S().NATS, name, f.Logger)
}

// ServiceNATSOptions are NATSOptions for long-running services (serve,
// gameserver, kv watch): they reconnect forever.
func (f *Factory) ServiceNATSOptions(name string) natsconn.Options {
	return app.ServiceNATSOptions(f.S().NATS, name, f.Logger)
}

// NATS connects to the configured NATS server.
func (f *Factory) NATS(ctx context.Context, name string) (*nats.Conn, error) {
	return natsconn.Connect(ctx, f.NATSOptions(name))
}

// ServiceNATS connects like NATS, reconnecting forever (ServiceNATSOptions).
func (f *Factory) ServiceNATS(ctx context.Context, name string) (*nats.Conn, error) {
	return natsconn.Connect(ctx, f.ServiceNATSOptions(name))
}

// Names returns the (possibly namespaced) NATS names.
func (f *Factory) Names() (state.Names, error) { return app.Names(f.S().NATS) }

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
	s, err := state.Open(ctx, nc, names, state.Replicas(max(f.S().NATS.Replicas, 1)))
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
	cfg, err := app.EdgegapConfig(f.S().Edgegap, f.Logger)
	if errors.Is(err, edgegap.ErrNoAPIKey) {
		return nil, &AuthError{Err: err}
	}
	if err != nil {
		return nil, err
	}
	cfg.OnCall = o.OnCall
	if o.Budget != nil {
		cfg.Budget = o.Budget
	}
	cl, err := edgegap.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("edgegap client: %w", err)
	}
	return cl, nil
}

// EdgegapBudget is the process-wide Edgegap rate budget from
// edgegap-create-rate and edgegap-status-rate (0 = unlimited).
func (f *Factory) EdgegapBudget() (*edgegap.Budget, error) { return app.Budget(f.S().Edgegap) }

// Theme is the output theme for stdout.
func (f *Factory) Theme() output.Theme { return output.NewTheme(f.IOStreams) }

// ErrTheme is the output theme for stderr.
func (f *Factory) ErrTheme() output.Theme { return output.NewErrTheme(f.IOStreams) }

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

// ErrCancelled means the user declined a prompt; nothing was done. Like
// gh, bevygap ends quietly (no error line), with exit 2 as when --yes is
// missing off a terminal.
var ErrCancelled = errors.New("cancelled")

// SilentError carries an exit code after the command already printed its result.
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// AuthError is refused or missing credentials (exit 4).
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// HintError is an error with a hint the root prints under it.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// ExitError is a failure with its own exit code (e.g. 124 for a timeout).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }
