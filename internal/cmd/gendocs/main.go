// Command gendocs regenerates docs/cli, docs/man and completions/ from the
// bevygap command tree, and README.md's configuration table from the
// settings declaration. Run it through scripts/gen-docs.sh.
package main

import (
	"fmt"
	"os"

	"github.com/bevygap/bevygap/internal/cli/docgen"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := docgen.Write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := docgen.WriteREADME(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
