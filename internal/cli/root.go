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
	"github.com/bevygap/bevygap/internal/build"
	"github.com/bevygap/bevygap/internal/cli/caargs"
	"github.com/bevygap/bevygap/internal/cli/check"
	"github.com/bevygap/bevygap/internal/cli/configcmd"
	"github.com/bevygap/bevygap/internal/cli/contextcmd"
	"github.com/bevygap/bevygap/internal/cli/contexts"
	"github.com/bevygap/bevygap/internal/cli/deadletters"
	"github.com/bevygap/bevygap/internal/cli/deployments"
	"github.com/bevygap/bevygap/internal/cli/dev"
	"github.com/bevygap/bevygap/internal/cli/dotenv"
	"github.com/bevygap/bevygap/internal/cli/edgegapcmd"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/cli/fleet"
	"github.com/bevygap/bevygap/internal/cli/gameservercmd"
	"github.com/bevygap/bevygap/internal/cli/kv"
	"github.com/bevygap/bevygap/internal/cli/play"
	"github.com/bevygap/bevygap/internal/cli/serve"
	"github.com/bevygap/bevygap/internal/cli/sessions"
	"github.com/bevygap/bevygap/internal/cli/token"
	"github.com/bevygap/bevygap/internal/cli/top"
	"github.com/bevygap/bevygap/internal/cli/version"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Exit codes (README.md "Exit codes", `bevygap help exit-codes`).
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
	jq        string
	context   string
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
		Example: `  bevygap dev
  bevygap context add dev --nats-host 127.0.0.1:4222 --nats-insecure && bevygap context use dev
  bevygap kv ls
  bevygap sessions ls -o json --jq '.[].session_id'`,
		Version:       build.Get().Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setup(cmd, f, g)
		},
	}
	f.Prepare = func(cmd *cobra.Command) error { return setup(cmd, f, g) }
	root.SetVersionTemplate(`bevygap {{.Version}}` + "\n")
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "config file (default: ./bevygap.yaml, then $XDG_CONFIG_HOME/bevygap/bevygap.yaml)")
	pf.StringVar(&g.context, "context", "", "context to use instead of the current one (env BEVYGAP_CONTEXT; see bevygap context)")
	pf.StringVarP(&g.output, "output", "o", "", "output format: table, wide (no column shortened), plain (tab-separated, no header) or json (default: table on a terminal, plain when piped)")
	pf.StringVar(&g.jq, "jq", "", "filter JSON output with a jq expression (implies -o json)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: auto, text or json (auto: text on a terminal, json otherwise)")
	pf.BoolVar(&g.noColor, "no-color", false, "disable colour (also NO_COLOR)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(output.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"auto", "text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("context", contextcmd.CompleteNames(f))

	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &factory.UsageError{Msg: flagError(err)} })
	root.SetOut(f.IOStreams.Out)
	root.SetErr(f.IOStreams.ErrOut)

	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run the services:"},
		&cobra.Group{ID: "admin", Title: "Inspect and administer:"},
		&cobra.Group{ID: "test", Title: "Develop and test:"},
	)
	for _, gc := range []struct {
		group string
		cmds  []*cobra.Command
	}{
		{"run", []*cobra.Command{serve.NewCmdServe(f, nil), gameservercmd.NewCmdGameserver(f)}},
		{"admin", []*cobra.Command{
			top.NewCmdTop(f, nil), kv.NewCmdKV(f), sessions.NewCmdSessions(f), deployments.NewCmdDeployments(f), fleet.NewCmdFleet(f, nil), fleet.NewCmdSeats(f), deadletters.NewCmdDeadLetters(f),
			token.NewCmdToken(f), caargs.NewCmdCAArgs(f, nil), check.NewCmdCheck(f, nil), configcmd.NewCmdConfig(f), contextcmd.NewCmdContext(f),
		}},
		{"test", []*cobra.Command{dev.NewCmdDev(f, nil), play.NewCmdPlay(f, nil), edgegapcmd.NewCmdEdgegap(f)}},
	} {
		for _, c := range gc.cmds {
			c.GroupID = gc.group
			root.AddCommand(c)
		}
	}
	root.AddCommand(version.NewCmdVersion(f, nil))
	root.AddCommand(helpTopics()...)
	rejectUnknownSubcommands(root)
	return root
}

// rejectUnknownSubcommands makes every command group (kv, sessions, ...)
// answer an unknown subcommand with a usage error and suggestions, like the
// root does, instead of printing help and exiting 0.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		// Runnable now, but its usage keeps the one "[command]" line.
		c.SetUsageTemplate(strings.Replace(c.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on the root
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return &factory.UsageError{Msg: msg}
		}
	}
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
	if g.jq != "" {
		if g.output != "" && format != output.JSON {
			return factory.UsageErrorf("--jq filters JSON: use it with -o json or without -o, not with -o %s", format)
		}
		q, err := output.ParseJQ(g.jq)
		if err != nil {
			return &factory.UsageError{Msg: err.Error()}
		}
		format = output.JSON
		if f.JQ == nil { // setup runs twice for completions; filter once
			f.JQ = q.NewFilter(f.IOStreams.Out)
			f.IOStreams.Out = f.JQ
		}
	}
	f.Format = format
	layers, err := layers(cmd, f, g) // reads .env into f.Env first
	if err != nil {
		return err
	}
	lo := settings.LoadOptions{Env: f.Env, File: g.config, Flags: cmd.Flags(), Keys: settingsKeys(cmd), Layers: layers}
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

// layers are the .env file of the working directory (its values as if in
// the environment, below the real environment) and the selected context.
func layers(cmd *cobra.Command, f *factory.Factory, g *globalFlags) ([]settings.Layer, error) {
	if !f.DotEnvRead {
		dot, err := dotenv.Read(f.Env)
		if err != nil {
			return nil, &factory.UsageError{Msg: err.Error()}
		}
		if dot != nil {
			f.Env = dot.Env(f.Env)
		}
		f.DotEnvRead = true
	}
	var out []settings.Layer
	if cmd.Annotations[factory.AnnotationNoContext] != "" {
		return out, nil
	}
	ly, err := contexts.Apply(f.Env, g.context, usedKeys(cmd))
	if err != nil {
		return nil, err
	}
	if ly != nil {
		out = append(out, *ly)
	}
	return out, nil
}

// usedKeys are the settings cmd reads: those with a flag on it, and those
// its annotation lists.
func usedKeys(cmd *cobra.Command) map[string]bool {
	used := map[string]bool{}
	for _, k := range settingsKeys(cmd) {
		used[k] = true
	}
	for _, d := range settings.Defs {
		for _, name := range append([]string{d.Key}, d.Aliases...) {
			if cmd.Flags().Lookup(name) != nil {
				used[d.Key] = true
			}
		}
	}
	return used
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

// Main runs bevygap with args and returns the process exit code. Ctrl-C
// (SIGINT) ends a command with 130; SIGTERM, how supervisors stop
// services, is a clean stop (exit 0 when the command stopped cleanly).
func Main(args []string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				cancel(ErrTerminated)
				return
			}
			cancel(errInterrupted)
		case <-done:
		}
	}()
	return Run(ctx, iostreams.System(), args)
}

var (
	errInterrupted = errors.New("interrupted")
	// ErrTerminated is the cancellation cause of a SIGTERM: a clean stop
	// (tests cancel with it to stop a service as a supervisor would).
	ErrTerminated = errors.New("terminated")
)

// Run executes the command tree with the given streams and the process's
// environment.
func Run(ctx context.Context, io *iostreams.IOStreams, args []string) int {
	return RunIn(ctx, io, settings.OSEnv(), args)
}

// RunIn executes the command tree with the given streams and environment
// (tests call it in-process, in parallel, each with its own environment).
// Cancelling ctx is an interrupt (exit 130), unless its cause is a SIGTERM.
func RunIn(ctx context.Context, io *iostreams.IOStreams, env settings.Env, args []string) int {
	f := factory.New(io, env)
	out := io.Out
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	cmd, err := root.ExecuteContextC(ctx)
	if f.JQ != nil {
		io.Out = out
		if jerr := f.JQ.Close(); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err == nil {
		if ctx.Err() != nil && !errors.Is(context.Cause(ctx), ErrTerminated) {
			return ExitInterrupted // a command that runs until interrupted was
		}
		return ExitOK
	}
	code := ExitCode(ctx, err)
	var silent *factory.SilentError
	if !errors.As(err, &silent) && !errors.Is(err, factory.ErrCancelled) {
		fmt.Fprintf(io.ErrOut, "Error: %s\n", oneLine(err.Error()))
		var fs *pflag.FlagSet
		if cmd != nil {
			fs = cmd.Flags()
		}
		if hint := hintFor(err, cmd, fs); hint != "" {
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
	case errors.Is(err, factory.ErrCancelled):
		return ExitUsage // a declined prompt: nothing done, like --yes missing
	case errors.As(err, &usage), errors.As(err, &invalid), isCobraUsage(err):
		return ExitUsage
	case errors.As(err, &auth), errors.Is(err, natsconn.ErrNoHost), errors.Is(err, natsconn.ErrAuth), errors.Is(err, settings.ErrConfigFile),
		errors.Is(err, contexts.ErrContext),
		edgegap.IsUnauthorized(err), errors.Is(err, edgegap.ErrNoAPIKey), errors.Is(err, matchmaker.ErrInsecureKey):
		return ExitAuth
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), ErrTerminated), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitError
}

func isUsage(err error) bool {
	var usage *factory.UsageError
	return errors.As(err, &usage) && (strings.HasPrefix(usage.Msg, "unknown flag") || strings.HasPrefix(usage.Msg, "unknown shorthand") ||
		strings.HasPrefix(usage.Msg, "unknown command") || strings.HasPrefix(usage.Msg, "flag needs an argument") || strings.HasPrefix(usage.Msg, "invalid argument"))
}

func isCobraUsage(err error) bool {
	m := err.Error()
	return strings.HasPrefix(m, "unknown command") || strings.HasPrefix(m, "accepts ") ||
		strings.HasPrefix(m, "requires at least") || strings.HasPrefix(m, "requires at most") ||
		strings.HasPrefix(m, "invalid argument")
}

func hintFor(err error, cmd *cobra.Command, fs *pflag.FlagSet) string {
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
	case isCobraUsage(err) || isUsage(err):
		if cmd == nil {
			return "see `bevygap --help`"
		}
		return "see `" + cmd.CommandPath() + " --help`"
	}
	var invalid *settings.InvalidError
	if errors.As(err, &invalid) {
		return "set " + setting(fs, invalid.Key)
	}
	var hinted *factory.HintError
	if errors.As(err, &hinted) {
		return hinted.Hint
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
