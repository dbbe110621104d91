// Package complete builds dynamic shell completions (bucket names, keys,
// session, deployment, dead-letter and context ids): each loads the
// command's settings as a run would, asks within a bounded time, and
// stays silent on any error (the shell then offers nothing).
package complete

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Timeout bounds one completion.
const Timeout = 2 * time.Second

// Lister lists candidates for the argument being completed.
type Lister func(ctx context.Context, cmd *cobra.Command, args []string, toComplete string) ([]string, error)

// Func is a cobra completion function: prepare (load the settings), then
// list within Timeout; candidates not starting with what was typed are
// dropped; no file completion.
func Func(prepare func(*cobra.Command) error, list Lister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		const none = cobra.ShellCompDirectiveNoFileComp
		if prepare != nil {
			if err := prepare(cmd); err != nil {
				return nil, none
			}
		}
		parent := cmd.Context()
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, Timeout)
		defer cancel()
		got, err := list(ctx, cmd, args, toComplete)
		if err != nil {
			return nil, none
		}
		var out []string
		for _, c := range got {
			if strings.HasPrefix(c, toComplete) {
				out = append(out, c)
			}
		}
		return out, none
	}
}

// Nth applies per-position listers: the i-th argument is completed by
// listers[i] (the last one repeats when repeat is true).
func Nth(repeat bool, listers ...cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		i := len(args)
		if i >= len(listers) {
			if !repeat || len(listers) == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			i = len(listers) - 1
		}
		return listers[i](cmd, args, toComplete)
	}
}

// Buckets lists the key-value buckets of the NATS server.
func Buckets(connect func(context.Context, string) (*nats.Conn, error)) Lister {
	return func(ctx context.Context, _ *cobra.Command, _ []string, _ string) ([]string, error) {
		nc, err := connect(ctx, "bevygap-complete")
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, err
		}
		var out []string
		l := js.KeyValueStoreNames(ctx)
		for n := range l.Name() {
			out = append(out, n)
		}
		sort.Strings(out)
		return out, l.Error()
	}
}

// MaxKeys bounds the keys offered for one bucket.
const MaxKeys = 1000

// Keys lists the keys of the bucket named by the first argument.
func Keys(connect func(context.Context, string) (*nats.Conn, error)) Lister {
	return func(ctx context.Context, _ *cobra.Command, args []string, _ string) ([]string, error) {
		if len(args) == 0 {
			return nil, nil
		}
		nc, err := connect(ctx, "bevygap-complete")
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, err
		}
		kv, err := js.KeyValue(ctx, args[0])
		if err != nil {
			return nil, err
		}
		lister, err := kv.ListKeys(ctx)
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer func() { _ = lister.Stop() }()
		var out []string
		for k := range lister.Keys() {
			if len(out) == MaxKeys {
				break
			}
			out = append(out, k)
		}
		sort.Strings(out)
		return out, nil
	}
}

// SessionIDs lists Edgegap session ids (first page, with their status).
func SessionIDs(client func() (*edgegap.Client, error)) Lister {
	return firstPage(client, func(ctx context.Context, eg *edgegap.Client) ([]edgegap.SessionSummary, error) {
		p, err := eg.ListSessions(ctx, 1, firstPageSize)
		if err != nil {
			return nil, err
		}
		return p.Sessions, nil
	}, func(s edgegap.SessionSummary) string { return s.ID + "\t" + s.Status })
}

// DeploymentIDs lists Edgegap deployment request ids (first page, with
// their public IP).
func DeploymentIDs(client func() (*edgegap.Client, error)) Lister {
	return firstPage(client, func(ctx context.Context, eg *edgegap.Client) ([]edgegap.DeploymentSummary, error) {
		p, err := eg.ListDeploymentsPage(ctx, edgegap.DeploymentQuery{}, 1, firstPageSize)
		if err != nil {
			return nil, err
		}
		return p.Deployments, nil
	}, func(d edgegap.DeploymentSummary) string { return d.RequestID + "\t" + d.PublicIP })
}

// firstPageSize is how many Edgegap ids a completion offers at most.
const firstPageSize = 100

// firstPage completes from the first page list fetches with the client,
// one line per item.
func firstPage[T any](client func() (*edgegap.Client, error), list func(context.Context, *edgegap.Client) ([]T, error), line func(T) string) Lister {
	return func(ctx context.Context, _ *cobra.Command, _ []string, _ string) ([]string, error) {
		eg, err := client()
		if err != nil {
			return nil, err
		}
		items, err := list(ctx, eg)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, it := range items {
			out = append(out, line(it))
		}
		return out, nil
	}
}
