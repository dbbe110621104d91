// Package complete builds dynamic shell completions (bucket names, keys,
// session, deployment, dead-letter and context ids): each loads the
// command's settings as a run would, asks within a bounded time, and
// stays silent on any error (the shell then offers nothing).
package complete

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
