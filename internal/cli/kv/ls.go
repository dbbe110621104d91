package kv

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/output"
)

// LsOptions of `kv ls`.
type LsOptions struct {
	D     *Deps
	Names bool
}

// BucketInfo is the JSON shape of one bucket.
type BucketInfo struct {
	Bucket      string `json:"bucket"`
	Description string `json:"description"`
	Values      uint64 `json:"values"`
	Bytes       uint64 `json:"bytes"`
	TTLSeconds  int64  `json:"ttl_seconds"`
	History     int64  `json:"history"`
	Replicas    int    `json:"replicas"`
	Compat      bool   `json:"compat"`
}

// NewCmdLs builds `kv ls`.
func NewCmdLs(d *Deps, runF func(context.Context, *LsOptions) error) *cobra.Command {
	o := &LsOptions{D: d}
	cmd := &cobra.Command{
		Use: "ls",
		Example: `  bevygap kv ls
  bevygap kv ls --names
  bevygap kv ls -o json --jq '.[] | select(.compat) | .bucket'`,
		Aliases: []string{"list"},
		Short:   "List buckets with description, values, size, TTL, history and replicas",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return lsRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Names, "names", false, "print bucket names only")
	return cmd
}

func lsRun(ctx context.Context, o *LsOptions) error {
	names, err := o.D.Names()
	if err != nil {
		return err
	}
	nc, js, err := conn(ctx, o.D)
	if err != nil {
		return err
	}
	defer nc.Close()
	compat := compatBuckets(names)
	lister := js.KeyValueStores(ctx)
	var infos []BucketInfo
	for st := range lister.Status() {
		s := st.(*jetstream.KeyValueBucketStatus)
		si := s.StreamInfo()
		infos = append(infos, BucketInfo{
			Bucket: st.Bucket(), Description: si.Config.Description, Values: st.Values(), Bytes: st.Bytes(),
			TTLSeconds: int64(st.TTL() / time.Second), History: st.History(), Replicas: si.Config.Replicas,
			Compat: slices.Contains(compat, st.Bucket()),
		})
	}
	if err := lister.Error(); err != nil {
		return fmt.Errorf("listing buckets: %w", err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Bucket < infos[j].Bucket })
	io := o.D.IO
	if o.Names {
		for _, b := range infos {
			fmt.Fprintln(io.Out, b.Bucket)
		}
		return nil
	}
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, infos)
	}
	f := o.D.Format()
	if len(infos) == 0 && f.IsTable() {
		fmt.Fprintln(io.ErrOut, "No buckets. `bevygap kv init` creates the bevygap buckets.")
		return nil
	}
	t := output.NewTable(io, f, "Bucket", "Description", "Values", "Size", "TTL", "History", "Replicas").MaxWidth(1, 40)
	for _, b := range infos {
		ttl := "unlimited"
		if b.TTLSeconds > 0 {
			ttl = output.Duration(time.Duration(b.TTLSeconds) * time.Second)
		}
		t.AddRow(b.Bucket, b.Description, b.Values, output.Bytes(b.Bytes), ttl, b.History, b.Replicas)
	}
	return t.Render()
}
