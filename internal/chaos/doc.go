// Package chaos holds bevygap's chaos suite: it builds the real bevygap
// binary (and nats-server from the module's own dependency), runs them as
// separate OS processes on loopback, drives a few hundred players at them
// through the gateway, SIGKILLs processes in the middle (a matchmaker
// replica, the nats-server, an all-in-one serve, a NATS cluster node), injects
// Edgegap faults (ghost creates, 5xx on every endpoint) into the Edgegap
// simulator, then waits out the TTLs and a reconcile interval and counts
// what leaked: live sessions and deployments in the simulator that no seat
// explains.
//
// The short run (TestChaosShort) is part of `go test ./...`. The full runs
// are behind the chaos build tag: `scripts/chaos.sh` runs them and writes
// their figures to docs/reliability.md.
//
// The Edgegap simulator and its simulated game servers run in the test
// process (they stand for Edgegap and for the game servers on it); every
// bevygap part and every nats-server is its own process.
package chaos
