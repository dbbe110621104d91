// Package cli is bevygap's command line: the root command, global flags,
// configuration loading, and Main, the only place that prints an error and
// chooses the exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/caargs"
	"github.com/bevygap/bevygap/internal/cli/check"
	"github.com/bevygap/bevygap/internal/cli/configcmd"
	"github.com/bevygap/bevygap/internal/cli/deployments"
	"github.com/bevygap/bevygap/internal/cli/dev"
	"github.com/bevygap/bevygap/internal/cli/edgegapcmd"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/cli/fleet"
	"github.com/bevygap/bevygap/internal/cli/gameservercmd"
	"github.com/bevygap/bevygap/internal/cli/kv"
	"github.com/bevygap/bevygap/internal/cli/play"
	"github.com/bevygap/bevygap/internal/cli/serve"
	"github.com/bevygap/bevygap/internal/cli/sessions"
	"github.com/bevygap/bevygap/internal/cli/token"
	"github.com/bevygap/bevygap/internal/cli/version"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Exit codes (README.md, "Commands"). Commands that run until interrupted
// (serve, dev, gameserver, kv watch, edgegap simulate) end with 0 on Ctrl-C.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitAuth        = 4
	ExitTimeout     = 124
	ExitInterrupted = 130
)

type globalFlags struct {
	config    string
	output    string
	logLevel  string
	logFormat string
	noColor   bool
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(f *factory.Factory) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "bevygap",
		Short: "Matchmaker, gateway and admin tool for Bevy/Lightyear games on Edgegap",
		Long: `bevygap hands game clients a seat on an Edgegap game server: it runs the
matchmaker, the websocket gateway and the Edgegap webhook sink (bevygap serve),
and is the admin and dev tool around them (kv, token, sessions, dev).

It speaks the wire format of the Rust bevygap client and server plugins byte
for byte, and shares state with them through NATS JetStream.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setup(cmd, f, g)
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "config file (default: ./bevygap.yaml, then $XDG_CONFIG_HOME/bevygap/bevygap.yaml)")
	pf.StringVarP(&g.output, "output", "o", "", "output format: table, json or plain (default: table on a terminal, plain when piped)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: auto, text or json (auto: text on a terminal, json otherwise)")
	pf.BoolVar(&g.noColor, "no-color", false, "disable colour (also NO_COLOR)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "plain"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"auto", "text", "json"}, cobra.ShellCompDirectiveNoFileComp))

	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &factory.UsageError{Msg: flagError(err)} })
	root.SetOut(f.IOStreams.Out)
	root.SetErr(f.IOStreams.ErrOut)

	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run the services:"},
		&cobra.Group{ID: "admin", Title: "Inspect and administer:"},
		&cobra.Group{ID: "test", Title: "Develop and test:"},
	)
	for group, cmds := range map[string][]*cobra.Command{
		"run":   {serve.NewCmdServe(f, nil), gameservercmd.NewCmdGameserver(f)},
		"admin": {kv.NewCmdKV(f), sessions.NewCmdSessions(f), deployments.NewCmdDeployments(f), fleet.NewCmdFleet(f, nil), fleet.NewCmdSeats(f), token.NewCmdToken(f), caargs.NewCmdCAArgs(f, nil), check.NewCmdCheck(f, nil), configcmd.NewCmdConfig(f)},
		"test":  {dev.NewCmdDev(f, nil), play.NewCmdPlay(f, nil), edgegapcmd.NewCmdEdgegap(f)},
	} {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	root.AddCommand(version.NewCmdVersion(f, nil))
	return root
}

var badFlagRE = regexp.MustCompile(`for "--([a-z0-9-]+)" flag`)

// flagError names the setting a bad flag value was for, when the flag is
// one of a setting's aliases (--protocol-id sets lightyear-protocol-id).
func flagError(err error) string {
	m := badFlagRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	for _, d := range settings.Defs {
		if slices.Contains(d.Aliases, m[1]) {
			return err.Error() + " (setting " + d.Key + ", a " + d.Type() + ")"
		}
	}
	return err.Error()
}

func setup(cmd *cobra.Command, f *factory.Factory, g *globalFlags) error {
	if g.noColor {
		f.IOStreams.SetColorEnabled(false)
	}
	format, err := output.ParseFormat(g.output, f.IOStreams)
	if err != nil {
		return &factory.UsageError{Msg: err.Error()}
	}
	f.Format = format
	lo := settings.LoadOptions{Env: f.Env, File: g.config, Flags: cmd.Flags(), Keys: settingsKeys(cmd)}
	if cmd.Annotations[factory.AnnotationPreset] == app.DevPreset.Name {
		lo.Preset = app.DevPreset
	}
	loaded, err := settings.Load(lo)
	if err != nil {
		return err
	}
	f.Settings = loaded
	logger, err := newLogger(f.IOStreams.ErrOut, f.IOStreams.IsStderrTTY(), g.logLevel, g.logFormat)
	if err != nil {
		return err
	}
	f.Logger = logger
	return nil
}

func newLogger(w io.Writer, tty bool, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, &factory.UsageError{Msg: fmt.Sprintf("invalid --log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "auto", "":
		if tty {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &factory.UsageError{Msg: fmt.Sprintf("invalid --log-format %q: use auto, text or json", format)}
}

// settingsKeys are the settings cmd reads without a flag
// (factory.AnnotationKeys).
func settingsKeys(cmd *cobra.Command) []string {
	if k := cmd.Annotations[factory.AnnotationKeys]; k != "" {
		return strings.Split(k, ",")
	}
	return nil
}

// Main runs bevygap with args and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, iostreams.System(), args)
}

// Run executes the command tree with the given streams and the process's
// environment.
func Run(ctx context.Context, io *iostreams.IOStreams, args []string) int {
	return RunIn(ctx, io, settings.OSEnv(), args)
}

// RunIn executes the command tree with the given streams and environment
// (tests call it in-process, in parallel, each with its own environment).
func RunIn(ctx context.Context, io *iostreams.IOStreams, env settings.Env, args []string) int {
	f := factory.New(io, env)
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(ctx, err)
	var silent *factory.SilentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(io.ErrOut, "Error: %s\n", oneLine(err.Error()))
		var fs *pflag.FlagSet
		if cmd != nil {
			fs = cmd.Flags()
		}
		if hint := hintFor(err, fs); hint != "" {
			fmt.Fprintf(io.ErrOut, "Hint: %s\n", hint)
		}
	}
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ExitCode maps an error to bevygap's exit codes.
func ExitCode(ctx context.Context, err error) int {
	var usage *factory.UsageError
	var silent *factory.SilentError
	var coded *factory.ExitError
	var auth *factory.AuthError
	var invalid *settings.InvalidError
	switch {
	case errors.As(err, &silent):
		return silent.Code
	case errors.As(err, &coded):
		return coded.Code
	case errors.As(err, &usage), errors.As(err, &invalid), isCobraUsage(err):
		return ExitUsage
	case errors.As(err, &auth), errors.Is(err, natsconn.ErrNoHost), errors.Is(err, natsconn.ErrAuth), errors.Is(err, settings.ErrConfigFile),
		edgegap.IsUnauthorized(err), errors.Is(err, edgegap.ErrNoAPIKey), errors.Is(err, matchmaker.ErrInsecureKey):
		return ExitAuth
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	case errors.Is(err, factory.ErrCancelled):
		return ExitError
	}
	return ExitError
}

func isCobraUsage(err error) bool {
	m := err.Error()
	return strings.HasPrefix(m, "unknown command") || strings.HasPrefix(m, "accepts ") ||
		strings.HasPrefix(m, "requires at least") || strings.HasPrefix(m, "requires at most") ||
		strings.HasPrefix(m, "invalid argument")
}

func hintFor(err error, fs *pflag.FlagSet) string {
	switch {
	case errors.Is(err, natsconn.ErrNoHost):
		return "set " + setting(fs, "nats-host") + " (and NATS_INSECURE=1 for a server without TLS), or run `bevygap dev` for a local stack"
	case errors.Is(err, natsconn.ErrTLS):
		return "NATS_INSECURE=1 connects without TLS; NATS_CA names a CA file for a self-signed server"
	case edgegap.IsUnauthorized(err):
		return "Edgegap refused the API key: check " + setting(fs, "edgegap-api-key") + " (the simulator's key is 'token bevygap-dev') and " + setting(fs, "edgegap-url")
	case errors.Is(err, edgegap.ErrNoAPIKey):
		return "set " + setting(fs, "edgegap-api-key")
	case errors.Is(err, matchmaker.ErrInsecureKey):
		return "set " + setting(fs, "lightyear-private-key") + ", or " + setting(fs, "allow-insecure-key") + " for local development"
	case isCobraUsage(err):
		return "see `bevygap --help`"
	}
	var invalid *settings.InvalidError
	if errors.As(err, &invalid) {
		return "set " + setting(fs, invalid.Key)
	}
	return ""
}

// setting names how to set key in the command that failed: its flag (when
// the command has one), its environment names and its config-file key.
// Domain errors speak of settings by key; only here do keys become flags.
func setting(fs *pflag.FlagSet, key string) string {
	d, ok := settings.Lookup(key)
	if !ok {
		return key
	}
	var ways []string
	for _, name := range append([]string{key}, d.Aliases...) {
		if fs != nil && fs.Lookup(name) != nil {
			ways = append(ways, "--"+name)
			break
		}
	}
	ways = append(ways, d.Envs()...)
	return strings.Join(ways, ", ") + " or " + key + " in the config file"
}
