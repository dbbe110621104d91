//go:build !unix

package devserver

import "os/exec"

// ownGroup does nothing where process groups do not exist.
func ownGroup(*exec.Cmd) {}

// terminate kills the process: there is no SIGTERM to send.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// kill kills the process.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// groupAlive is false: terminate already killed the process.
func groupAlive(*exec.Cmd) bool { return false }
