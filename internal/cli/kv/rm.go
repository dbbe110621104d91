package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/output"
)

// RmOptions of `kv rm` and `kv purge`.
type RmOptions struct {
	D      *Deps
	Bucket string
	Keys   []string
	Yes    bool
	Purge  bool
}

// Removal is the JSON result of rm and purge.
type Removal struct {
	Bucket  string   `json:"bucket"`
	Keys    []string `json:"keys"`
	Removed int      `json:"removed"`
}

// NewCmdRm builds `kv rm`.
func NewCmdRm(d *Deps, runF func(context.Context, *RmOptions) error) *cobra.Command {
	o := &RmOptions{D: d}
	cmd := &cobra.Command{
		Use: "rm <bucket> <key>...",
		Example: `  bevygap kv rm cert_digests 127.0.0.2
  bevygap kv rm unclaimed_sessions 950dd2eaff09-S --yes`,
		Short: "Delete keys (asks first; --yes when not on a terminal)",
		Long: `Delete keys (asks first; --yes when not on a terminal).

Careful with the cleanup buckets, a running matchmaker acts on them:
removing a key from unclaimed_sessions makes the reaper forget that session
(it will not be deleted; see bevygap sessions prune), and removing a key from
active_connections queues that session for deletion, disconnecting its player.`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: d.completeBucketKeys(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Bucket, o.Keys = args[0], args[1:]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return rmRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// NewCmdPurge builds `kv purge`.
func NewCmdPurge(d *Deps, runF func(context.Context, *RmOptions) error) *cobra.Command {
	o := &RmOptions{D: d, Purge: true}
	cmd := &cobra.Command{
		Use: "purge <bucket> [<key>...]",
		Example: `  bevygap kv purge cert_digests --yes
  bevygap kv purge sessions_eg2ly 950dd2eaff09-S`,
		Short: "Purge keys and their history, or every key of the bucket (asks first; --yes when not on a terminal)",
		Long: `Purge keys and their history, or every key of the bucket (asks first; --yes
when not on a terminal).

Careful with the cleanup buckets, a running matchmaker acts on them:
purging unclaimed_sessions makes the reaper forget those sessions (they will
not be deleted; see bevygap sessions prune), and purging active_connections
queues every connected session for deletion, disconnecting their players.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: d.completeBucketKeys(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Bucket, o.Keys = args[0], args[1:]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return rmRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func rmRun(ctx context.Context, o *RmOptions) error {
	verb := "Delete"
	if o.Purge {
		verb = "Purge"
	}
	what := fmt.Sprintf("%d key(s)", len(o.Keys))
	if len(o.Keys) == 0 {
		what = "every key"
	}
	if err := o.D.Confirm(o.Yes, fmt.Sprintf("%s %s of bucket %s?", verb, what, o.Bucket)); err != nil {
		return err
	}
	nc, kv, err := openBucket(ctx, o.D, o.Bucket)
	if err != nil {
		return err
	}
	defer nc.Close()
	keys := o.Keys
	if len(keys) == 0 {
		l, err := kv.ListKeys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return fmt.Errorf("listing keys of %s: %w", o.Bucket, err)
		}
		if l != nil {
			for k := range l.Keys() {
				keys = append(keys, k)
			}
		}
	} else {
		// Check every key first: a typo removes nothing.
		for _, k := range keys {
			if _, err := kv.Get(ctx, k); err != nil {
				if missingKey(err) {
					return fmt.Errorf("key %q not found in bucket %q; nothing removed", k, o.Bucket)
				}
				return fmt.Errorf("get %s from %s: %w", k, o.Bucket, err)
			}
		}
	}
	res := Removal{Bucket: o.Bucket, Keys: []string{}}
	for _, k := range keys {
		var err error
		if o.Purge {
			err = kv.Purge(ctx, k)
		} else {
			err = kv.Delete(ctx, k)
		}
		if err != nil {
			return fmt.Errorf("%s %s in %s (after %d removed): %w", verb, k, o.Bucket, res.Removed, err)
		}
		res.Keys = append(res.Keys, k)
		res.Removed++
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, res)
	}
	past := "Deleted"
	if o.Purge {
		past = "Purged"
	}
	_, err = fmt.Fprintf(io.Out, "%s %d entries from %s\n", past, res.Removed, o.Bucket)
	return err
}
