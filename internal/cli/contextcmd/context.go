// Package contextcmd implements `bevygap context`: add, list, select,
// remove and show named sets of NATS and Edgegap endpoints (package
// contexts stores them).
package contextcmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/cli/contexts"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// Deps are what the context commands need.
type Deps struct {
	IO      *iostreams.IOStreams
	Env     func() settings.Env
	Format  func() output.Format
	Confirm func(yes bool, question string) error
}

// DepsOf takes the commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{IO: f.IOStreams, Env: func() settings.Env { return f.Env }, Format: func() output.Format { return f.Format }, Confirm: f.Confirm}
}

var noContext = map[string]string{factory.AnnotationNoContext: "1"}

// NewCmdContext builds `bevygap context`.
func NewCmdContext(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use:   "context <command>",
		Short: "Save NATS and Edgegap endpoints under a name and switch between them",
		Long: `A context is a named set of settings (NATS server and credentials, Edgegap URL
and key, app and version, gateway URL) kept in
$XDG_CONFIG_HOME/bevygap/contexts.yaml. The selected context (--context,
else BEVYGAP_CONTEXT, else the one chosen with "context use") applies to every
command, under flags and the environment and above the config file.

Secrets are stored by reference and read when a command runs:
--edgegap-api-key-env NAME (an environment variable) or
--edgegap-api-key-file PATH (a file). A secret is written in clear in the
contexts file (mode 0600) only with --store-secrets-in-clear.`,
		Example: `  bevygap context add dev --nats-host 127.0.0.1:4222 --nats-insecure \
      --edgegap-url http://127.0.0.1:3100 --edgegap-api-key-env DEV_EDGEGAP_KEY
  bevygap context use dev
  bevygap kv ls
  bevygap context ls
  bevygap --context prod sessions ls`,
		Annotations: noContext,
	}
	cmd.AddCommand(newCmdAdd(d), newCmdLs(d), newCmdUse(d), newCmdRm(d), newCmdShow(d))
	return cmd
}

// CompleteNames completes context names (local file; silent on error).
func CompleteNames(f *factory.Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		cf, err := contexts.Load(f.Env)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cf.Names(), cobra.ShellCompDirectiveNoFileComp
	}
}

func completeOneName(d *Deps) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cf, err := contexts.Load(d.Env())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cf.Names(), cobra.ShellCompDirectiveNoFileComp
	}
}

type addOptions struct {
	Name, Description   string
	Clear, Use, Replace bool
}

func secretKeys() []string {
	var out []string
	for _, k := range contexts.Keys {
		if d, _ := settings.Lookup(k); d.Secret {
			out = append(out, k)
		}
	}
	return out
}

func newCmdAdd(d *Deps) *cobra.Command {
	o := &addOptions{}
	cmd := &cobra.Command{
		Use:   "add <name>",
		Short: "Save a context (secrets by reference: --<key>-env NAME or --<key>-file PATH)",
		Example: `  bevygap context add prod --nats-host tls://nats.example.com --nats-user admin \
      --nats-password-file ~/.secrets/nats --edgegap-api-key-env EDGEGAP_API_KEY \
      --app-name my-game --app-version v3
  bevygap context add dev --nats-host 127.0.0.1:4222 --nats-insecure --use`,
		Args:        cobra.ExactArgs(1),
		Annotations: noContext,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return addRun(d, o, cmd.Flags())
		},
	}
	fl := cmd.Flags()
	settings.AddFlags(fl, contexts.Keys...)
	for _, k := range secretKeys() {
		fl.String(k+"-env", "", "read "+k+" from this environment variable when a command runs")
		fl.String(k+"-file", "", "read "+k+" from this file when a command runs")
	}
	fl.StringVar(&o.Description, "description", "", "what this context is for")
	fl.BoolVar(&o.Clear, "store-secrets-in-clear", false, "allow secret values given on the command line to be written in clear to the contexts file")
	fl.BoolVar(&o.Use, "use", false, "also make it the current context")
	fl.BoolVar(&o.Replace, "replace", false, "replace an existing context of that name")
	return cmd
}

func addRun(d *Deps, o *addOptions, fl *pflag.FlagSet) error {
	if err := contexts.CheckName(o.Name); err != nil {
		return &factory.UsageError{Msg: err.Error()}
	}
	cf, err := contexts.Load(d.Env())
	if err != nil {
		return err
	}
	if _, ok := cf.Contexts[o.Name]; ok && !o.Replace {
		return factory.UsageErrorf("context %q exists: use --replace to overwrite it", o.Name)
	}
	c := &contexts.Context{Name: o.Name, Description: o.Description, Settings: map[string]string{}, Secrets: map[string]string{}}
	secrets := secretKeys()
	for _, k := range contexts.Keys {
		f := fl.Lookup(k)
		if !slices.Contains(secrets, k) {
			if f.Changed {
				c.Settings[k] = flagValue(f)
			}
			continue
		}
		refs := 0
		if f.Changed {
			if !o.Clear {
				return factory.UsageErrorf("--%s would be written in clear to the contexts file: use --%s-env NAME or --%s-file PATH, or add --store-secrets-in-clear", k, k, k)
			}
			c.Secrets[k] = "value:" + f.Value.String()
			refs++
		}
		if v, _ := fl.GetString(k + "-env"); v != "" {
			c.Secrets[k] = "env:" + v
			refs++
		}
		if v, _ := fl.GetString(k + "-file"); v != "" {
			c.Secrets[k] = "file:" + v
			refs++
		}
		if refs > 1 {
			return factory.UsageErrorf("give %s once: --%s, --%s-env or --%s-file", k, k, k, k)
		}
	}
	cf.Contexts[o.Name] = c
	if o.Use || cf.Current == "" {
		cf.Current = o.Name
	}
	if err := cf.Save(); err != nil {
		return err
	}
	return printResult(d, map[string]any{"context": o.Name, "current": cf.Current == o.Name, "file": cf.FilePath()},
		fmt.Sprintf("Saved context %s in %s%s", o.Name, cf.FilePath(), map[bool]string{true: " (current)", false: ""}[cf.Current == o.Name]))
}

func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}

func printResult(d *Deps, v any, line string) error {
	if d.Format() == output.JSON {
		return output.WriteJSON(d.IO.Out, v)
	}
	_, err := fmt.Fprintln(d.IO.Out, line)
	return err
}

// Row is the JSON shape of one context in `context ls`.
type Row struct {
	Name        string            `json:"name"`
	Current     bool              `json:"current"`
	Description string            `json:"description,omitempty"`
	Settings    map[string]string `json:"settings"`
	Secrets     map[string]string `json:"secrets"`
}

func rowOf(cf *contexts.File, c *contexts.Context) Row {
	r := Row{Name: c.Name, Current: cf.Current == c.Name, Description: c.Description, Settings: map[string]string{}, Secrets: map[string]string{}}
	for k, v := range c.Settings {
		r.Settings[k] = v
	}
	for k, ref := range c.Secrets {
		r.Secrets[k] = contexts.Describe(ref)
	}
	return r
}

func newCmdLs(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:         "ls",
		Aliases:     []string{"list"},
		Short:       "List contexts (* marks the current one)",
		Example:     "  bevygap context ls\n  bevygap context ls -o json --jq '.[] | select(.current) | .name'",
		Args:        cobra.NoArgs,
		Annotations: noContext,
		RunE: func(_ *cobra.Command, _ []string) error {
			cf, err := contexts.Load(d.Env())
			if err != nil {
				return err
			}
			rows := []Row{}
			for _, n := range cf.Names() {
				rows = append(rows, rowOf(cf, cf.Contexts[n]))
			}
			if d.Format() == output.JSON {
				return output.WriteJSON(d.IO.Out, rows)
			}
			if len(rows) == 0 && d.Format().IsTable() {
				fmt.Fprintln(d.IO.ErrOut, "No contexts. `bevygap context add <name> ...` saves one.")
				return nil
			}
			t := output.NewTable(d.IO, d.Format(), "Current", "Name", "NATS", "Edgegap", "App", "Description").MaxWidth(5, 40)
			for _, r := range rows {
				cur := ""
				if r.Current {
					cur = "*"
				}
				app := strings.TrimSpace(r.Settings["app-name"] + " " + r.Settings["app-version"])
				t.AddRow(cur, r.Name, r.Settings["nats-host"], r.Settings["edgegap-url"], app, r.Description)
			}
			return t.Render()
		},
	}
}

// loadWith loads the contexts file and checks it has a context name.
func loadWith(d *Deps, name string) (*contexts.File, error) {
	cf, err := contexts.Load(d.Env())
	if err != nil {
		return nil, err
	}
	if _, err := cf.Get(name); err != nil {
		return nil, err
	}
	return cf, nil
}

func newCmdUse(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:               "use <name>",
		Short:             "Make a context the current one",
		Example:           "  bevygap context use dev",
		Args:              cobra.ExactArgs(1),
		Annotations:       noContext,
		ValidArgsFunction: completeOneName(d),
		RunE: func(_ *cobra.Command, args []string) error {
			cf, err := loadWith(d, args[0])
			if err != nil {
				return err
			}
			cf.Current = args[0]
			if err := cf.Save(); err != nil {
				return err
			}
			return printResult(d, map[string]any{"current": args[0]}, "Switched to context "+args[0])
		},
	}
}

func newCmdRm(d *Deps) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:               "rm <name>",
		Short:             "Remove a context (asks first; --yes when not on a terminal)",
		Example:           "  bevygap context rm old --yes",
		Args:              cobra.ExactArgs(1),
		Annotations:       noContext,
		ValidArgsFunction: completeOneName(d),
		RunE: func(_ *cobra.Command, args []string) error {
			cf, err := loadWith(d, args[0])
			if err != nil {
				return err
			}
			if err := d.Confirm(yes, fmt.Sprintf("Remove context %s?", args[0])); err != nil {
				return err
			}
			delete(cf.Contexts, args[0])
			if cf.Current == args[0] {
				cf.Current = ""
			}
			if err := cf.Save(); err != nil {
				return err
			}
			return printResult(d, map[string]any{"removed": args[0]}, "Removed context "+args[0])
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newCmdShow(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:               "show [<name>]",
		Short:             "Print a context (default: the selected one); secrets show as their reference",
		Example:           "  bevygap context show\n  bevygap context show prod -o json",
		Args:              cobra.MaximumNArgs(1),
		Annotations:       noContext,
		ValidArgsFunction: completeOneName(d),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := contexts.Load(d.Env())
			if err != nil {
				return err
			}
			flag, _ := cmd.Flags().GetString("context")
			name := contexts.Selected(d.Env(), flag, cf)
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" {
				return fmt.Errorf("%w: none selected (see `bevygap context use`)", contexts.ErrContext)
			}
			c, err := cf.Get(name)
			if err != nil {
				return err
			}
			r := rowOf(cf, c)
			if d.Format() == output.JSON {
				return output.WriteJSON(d.IO.Out, r)
			}
			t := output.NewTable(d.IO, d.Format(), "Key", "Value")
			for _, k := range contexts.Keys {
				if v, ok := r.Settings[k]; ok {
					t.AddRow(k, v)
				}
				if v, ok := r.Secrets[k]; ok {
					t.AddRow(k, v)
				}
			}
			if d.Format().IsTable() {
				fmt.Fprintf(d.IO.ErrOut, "Context %s%s\n", name, map[bool]string{true: " (current)", false: ""}[r.Current])
			}
			return t.Render()
		},
	}
}

// AddLine is the `context add` command that saves a running dev stack:
// its NATS, Edgegap simulator (whose key is not a secret), app and gateway.
func AddLine(name, natsURL, edgegapURL, apiKey, app, appVersion, gatewayURL string) string {
	return fmt.Sprintf("bevygap context add %s --replace --use --nats-host %s --nats-insecure --edgegap-url %s --edgegap-api-key '%s' --store-secrets-in-clear --app-name %s --app-version %s --gateway-url %s",
		name, strings.TrimPrefix(natsURL, "nats://"), edgegapURL, apiKey, app, appVersion, gatewayURL)
}
