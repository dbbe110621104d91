// Package deadletters implements `bevygap deadletters`: the sessions and
// deployments whose deletion kept failing (bucket bevygap_dead_letters):
// list them, queue their deletion again, or forget them.
package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/state"
)

// Deps are what the dead-letter commands need.
type Deps struct {
	IO      *iostreams.IOStreams
	Now     func() time.Time
	Format  func() output.Format
	Store   func(ctx context.Context, name string) (*state.Store, *nats.Conn, error)
	Confirm func(yes bool, question string) error
	Prepare func(cmd *cobra.Command) error
}

// DepsOf takes the commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format }, Store: f.Store, Confirm: f.Confirm, Prepare: f.PrepareCompletion}
}

// NewCmdDeadLetters builds `bevygap deadletters`.
func NewCmdDeadLetters(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use:     "deadletters <command>",
		Aliases: []string{"dead-letters"},
		Short:   "Sessions and deployments bevygap failed to delete: list, retry, forget",
		Long: `After 20 failed attempts to delete an Edgegap session (or stop a deployment),
the matchmaker gives up and records it in the dead-letter bucket
(bevygap_dead_letters): it may still be running, and billed. List them, queue
the deletion again once the cause is fixed (retry), or forget them after you
deleted them yourself (rm).`,
		Example: `  bevygap deadletters ls
  bevygap deadletters retry --all
  bevygap deadletters rm 950dd2eaff09-S --yes`,
	}
	settings.AddFlags(cmd.PersistentFlags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace")
	cmd.AddCommand(newCmdLs(d), newCmdRetry(d), newCmdRm(d))
	return cmd
}

// Letter is the JSON shape of one dead letter.
type Letter struct {
	Key string `json:"key"`
	// Kind is "session" or "deployment".
	Kind string `json:"kind"`
	// ID is the session or deployment id.
	ID        string    `json:"id"`
	Attempts  uint64    `json:"attempts"`
	LastError string    `json:"last_error"`
	Time      time.Time `json:"time"`
}

const deploymentPrefix = "deployment."

func letterOf(key string, value []byte) Letter {
	var dl matchmaker.DeadLetter
	l := Letter{Key: key, Kind: "session", ID: key}
	if err := json.Unmarshal(value, &dl); err != nil {
		l.LastError = "unreadable dead letter: " + err.Error()
	} else {
		l.Attempts, l.LastError, l.Time = dl.Attempts, dl.LastError, dl.Time
		if dl.SessionID != "" {
			l.ID = dl.SessionID
		}
	}
	if dl.Kind == "deployment" || strings.HasPrefix(key, deploymentPrefix) {
		l.Kind, l.ID = "deployment", strings.TrimPrefix(key, deploymentPrefix)
		if dl.DeploymentID != "" {
			l.ID = dl.DeploymentID
		}
	}
	return l
}

// open connects and binds the dead-letter bucket; close the conn when done.
func open(ctx context.Context, d *Deps) (*state.Store, jetstream.KeyValue, *nats.Conn, error) {
	st, nc, err := d.Store(ctx, "bevygap-cli")
	if err != nil {
		return nil, nil, nil, err
	}
	kv, err := st.DeadLetters(ctx)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return st, kv, nc, nil
}

func list(ctx context.Context, kv jetstream.KeyValue) ([]Letter, error) {
	out := []Letter{}
	lister, err := kv.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	if lister == nil {
		return out, nil
	}
	defer func() { _ = lister.Stop() }()
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dead letter %s: %w", k, err)
		}
		out = append(out, letterOf(k, e.Value()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// CompleteIDs completes the ids of the dead letters (bounded; silent on
// error).
func CompleteIDs(d *Deps) cobra.CompletionFunc {
	return complete.Func(d.Prepare, func(ctx context.Context, _ *cobra.Command, _ []string, _ string) ([]string, error) {
		_, kv, nc, err := open(ctx, d)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		ls, err := list(ctx, kv)
		var out []string
		for _, l := range ls {
			out = append(out, l.ID+"\t"+l.Kind)
		}
		return out, err
	})
}

func newCmdLs(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List dead letters: kind, id, attempts, last error, when",
		Example: `  bevygap deadletters ls
  bevygap deadletters ls -o wide
  bevygap deadletters ls --jq '.[] | select(.kind == "session") | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, kv, nc, err := open(ctx, d)
			if err != nil {
				return err
			}
			defer nc.Close()
			ls, err := list(ctx, kv)
			if err != nil {
				return err
			}
			f := d.Format()
			if f == output.JSON {
				return output.WriteJSON(d.IO.Out, ls)
			}
			if len(ls) == 0 && f.IsTable() {
				fmt.Fprintln(d.IO.ErrOut, "No dead letters.")
				return nil
			}
			t := output.NewTable(d.IO, f, "Kind", "ID", "Attempts", "Last error", "When").MaxWidth(3, 60)
			for _, l := range ls {
				t.AddRow(l.Kind, l.ID, l.Attempts, l.LastError, output.Ago(f, d.Now(), l.Time))
			}
			return t.Render()
		},
	}
}

type actOptions struct {
	all, yes bool
	ids      []string
}

// pick returns the letters named by ids (session or deployment id, or
// key), or all of them; an unknown id is an error and nothing is done.
func pick(ls []Letter, o *actOptions) ([]Letter, error) {
	if o.all {
		return ls, nil
	}
	var out []Letter
	for _, id := range o.ids {
		found := false
		for _, l := range ls {
			if l.ID == id || l.Key == id {
				out = append(out, l)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no dead letter for %q; nothing done (see `bevygap deadletters ls`)", id)
		}
	}
	return out, nil
}

func checkArgs(o *actOptions, args []string) error {
	o.ids = args
	if o.all == (len(args) > 0) {
		return factory.UsageErrorf("name dead letters by id, or give --all")
	}
	return nil
}

// Result is the JSON shape of retry and rm.
type Result struct {
	Action string   `json:"action"`
	IDs    []string `json:"ids"`
	Done   int      `json:"done"`
}

func newCmdRetry(d *Deps) *cobra.Command {
	o := &actOptions{}
	cmd := &cobra.Command{
		Use:   "retry (<id>... | --all)",
		Short: "Queue the deletion again and remove the dead letter",
		Long: `Queue the deletion of dead-lettered sessions (the delete queue) or the stop of
dead-lettered deployments (the stop queue) again, and remove their dead
letters. A running matchmaker picks them up with a fresh attempt budget.`,
		Example: `  bevygap deadletters retry 950dd2eaff09-S
  bevygap deadletters retry --all -o json`,
		ValidArgsFunction: CompleteIDs(d),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkArgs(o, args); err != nil {
				return err
			}
			return act(cmd.Context(), d, o, true)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "every dead letter")
	return cmd
}

func newCmdRm(d *Deps) *cobra.Command {
	o := &actOptions{}
	cmd := &cobra.Command{
		Use:   "rm (<id>... | --all)",
		Short: "Forget dead letters without retrying (asks first; --yes when not on a terminal)",
		Long: `Remove dead letters without queueing anything: for sessions and deployments
you deleted yourself (bevygap sessions rm, the Edgegap dashboard).`,
		Example: `  bevygap deadletters rm 950dd2eaff09-S
  bevygap deadletters rm --all --yes`,
		ValidArgsFunction: CompleteIDs(d),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkArgs(o, args); err != nil {
				return err
			}
			return act(cmd.Context(), d, o, false)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "every dead letter")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func act(ctx context.Context, d *Deps, o *actOptions, retry bool) error {
	st, kv, nc, err := open(ctx, d)
	if err != nil {
		return err
	}
	defer nc.Close()
	ls, err := list(ctx, kv)
	if err != nil {
		return err
	}
	picked, err := pick(ls, o)
	if err != nil {
		return err
	}
	res := Result{Action: "rm", IDs: []string{}}
	if retry {
		res.Action = "retry"
	} else if len(picked) > 0 {
		if err := d.Confirm(o.yes, fmt.Sprintf("Forget %d dead letter(s) without deleting anything?", len(picked))); err != nil {
			return err
		}
	}
	var stops *state.StopQueue
	for _, l := range picked {
		if retry {
			if stops, err = requeue(ctx, st, stops, l); err != nil {
				return fmt.Errorf("%w (after %d done)", err, res.Done)
			}
		}
		if err := kv.Delete(ctx, l.Key); err != nil {
			return fmt.Errorf("remove dead letter %s (after %d done): %w", l.Key, res.Done, err)
		}
		res.IDs = append(res.IDs, l.ID)
		res.Done++
	}
	if d.Format() == output.JSON {
		return output.WriteJSON(d.IO.Out, res)
	}
	verb := "Forgot"
	if retry {
		verb = "Queued again"
	}
	_, err = fmt.Fprintf(d.IO.Out, "%s %d dead letter(s)\n", verb, res.Done)
	return err
}

// requeue queues a session's deletion or a deployment's stop; the stop
// queue is opened once, with the replicas its stream already has.
func requeue(ctx context.Context, st *state.Store, stops *state.StopQueue, l Letter) (*state.StopQueue, error) {
	if l.Kind != "deployment" {
		return stops, st.EnqueueDelete(ctx, l.ID)
	}
	if stops == nil {
		replicas := 1
		if s, err := st.JS.Stream(ctx, st.Names.Stream(state.StopStream)); err == nil {
			replicas = s.CachedInfo().Config.Replicas
		}
		q, err := state.OpenStopQueue(ctx, st.JS, st.Names, replicas)
		if err != nil {
			return nil, err
		}
		stops = q
	}
	return stops, stops.Enqueue(ctx, l.ID)
}
