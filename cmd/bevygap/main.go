// Command bevygap is the matchmaker, gateway, webhook sink and admin tool for
// Bevy/Lightyear games hosted on Edgegap.
package main

import (
	"os"

	"github.com/bevygap/bevygap/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
