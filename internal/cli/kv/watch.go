package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"

	"github.com/bevygap/bevygap/internal/output"
)

// WatchOptions of `kv watch`.
type WatchOptions struct {
	D       *Deps
	Buckets []string
	Initial bool
}

// NewCmdWatch builds `kv watch`.
func NewCmdWatch(d *Deps, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	o := &WatchOptions{D: d}
	cmd := &cobra.Command{
		Use: "watch [<bucket>...]",
		Example: `  bevygap kv watch
  bevygap kv watch active_connections unclaimed_sessions --initial
  bevygap kv watch -o json --jq 'select(.operation == "DELETE") | .key'`,
		Short: "Print put, delete and purge events live until interrupted",
		Long: `Print put, delete and purge events of the named buckets (default: the five
bevygap buckets) with timestamps until interrupted. With -o json, one JSON
object per line.`,
		ValidArgsFunction: complete.Nth(true, d.completeBucket()),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Buckets = args
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return watchRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Initial, "initial", false, "print the current values first")
	return cmd
}

func watchRun(ctx context.Context, o *WatchOptions) error {
	names, err := o.D.Names()
	if err != nil {
		return err
	}
	nc, js, err := connWith(ctx, o.D.ServiceNATS) // a watch runs until interrupted
	if err != nil {
		return err
	}
	defer nc.Close()
	buckets := o.Buckets
	if len(buckets) == 0 {
		buckets = compatBuckets(names)
	}
	events := make(chan jetstream.KeyValueEntry)
	var watchers []jetstream.KeyWatcher
	defer func() {
		for _, w := range watchers {
			_ = w.Stop()
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, b := range buckets {
		w, err := watchBucket(ctx, wctx, js, b, o.Initial, events)
		if err != nil {
			return err
		}
		watchers = append(watchers, w)
	}
	io := o.D.IO
	if io.IsStderrTTY() {
		fmt.Fprintf(io.ErrOut, "Watching %v (Ctrl-C to stop)\n", buckets)
	}
	show := eventPrinter(o)
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: the normal end of a watch
		case e := <-events:
			if err := show(e); err != nil {
				return err
			}
		}
	}
}

// watchBucket watches bucket b and forwards its entries to events until
// the watcher closes (wctx cancelled or Stop).
func watchBucket(ctx, wctx context.Context, js jetstream.JetStream, b string, initial bool, events chan<- jetstream.KeyValueEntry) (jetstream.KeyWatcher, error) {
	kv, err := bucket(ctx, js, b)
	if err != nil {
		return nil, err
	}
	opts := []jetstream.WatchOpt{}
	if !initial {
		opts = append(opts, jetstream.UpdatesOnly())
	}
	w, err := kv.WatchAll(wctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", b, err)
	}
	go func() {
		for e := range w.Updates() {
			if e == nil {
				continue // end of initial values
			}
			select {
			case events <- e:
			case <-wctx.Done():
				return
			}
		}
	}()
	return w, nil
}

// eventPrinter prints one watch event as JSON or as a line.
func eventPrinter(o *WatchOptions) func(jetstream.KeyValueEntry) error {
	io := o.D.IO
	enc := json.NewEncoder(io.Out)
	th := output.NewTheme(o.D.IO)
	return func(e jetstream.KeyValueEntry) error {
		ent := entryOf(e)
		ent.Operation = opName(e.Operation())
		if o.D.Format() == output.JSON {
			return enc.Encode(ent)
		}
		ts := ent.Created.Format(time.RFC3339Nano)
		line := fmt.Sprintf("%s %-6s %s %s", ts, ent.Operation, ent.Bucket, ent.Key)
		if e.Operation() == jetstream.KeyValuePut {
			line += " = " + ent.Value
		}
		if o.D.Format().IsTable() {
			line = th.Muted.Render(ts) + line[len(ts):]
		}
		_, err := fmt.Fprintln(io.Out, line)
		return err
	}
}
