package cli

import "github.com/spf13/cobra"

// ExitCodesHelp is `bevygap help exit-codes` (README.md repeats it; a test
// walks every code through a real command).
const ExitCodesHelp = `Every bevygap command ends with one of these exit codes:

  0    ok (an empty result too)
  1    failure (e.g. a key or bucket not found, a check failed, the
       matchmaker answered an Error)
  2    usage error: unknown command, bad flag or value (flag, env, config
       file or context), a destructive command without --yes off a terminal,
       or a declined confirmation prompt (nothing is done and, like gh,
       nothing more is printed)
  4    missing configuration or refused credentials: no NATS server, a
       refused NATS user or Edgegap key, no Edgegap key, an unusable config
       file or context (also check, when a check failed for that reason)
  124  timeout (--timeout of play and check)
  130  interrupted (Ctrl-C), also for commands that run until interrupted
       (serve, dev, kv watch, top); SIGTERM stops them cleanly with 0

Errors are one "Error: ..." line on stderr, with a "Hint: ..." line where
one helps.`

func helpTopics() []*cobra.Command {
	return []*cobra.Command{{
		Use:   "exit-codes",
		Short: "Exit codes of every command",
		Long:  ExitCodesHelp,
	}}
}
