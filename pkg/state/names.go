// Package state holds bevygap's shared state in NATS JetStream: the five
// key-value buckets and the delete-session work queue the Rust bevygap
// components create (PROTOCOL.md section 3), defined once, with typed
// operations. All NATS names bevygap uses live here.
package state

import (
	"fmt"
	"regexp"
)

// Rust-compatible names (namespace empty).
const (
	BucketSessionsEG2LY      = "sessions_eg2ly"
	BucketSessionsLY2EG      = "sessions_ly2eg"
	BucketActiveConnections  = "active_connections"
	BucketUnclaimedSessions  = "unclaimed_sessions"
	BucketCertDigests        = "cert_digests"
	DeleteStream             = "DELETE_SESSION_STREAM"
	deleteSubjectPrefix      = "edgegap_delete_session_q"
	DeleteConsumer           = "api-deleter-1"
	SubjectGameServerContext = "gameserver.contexts"
)

var namespaceRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

// Names maps the protocol's names into a namespace. The zero value is the
// Rust-compatible layout; a namespace prefixes every bucket, stream and
// subject so several games can share one NATS account.
type Names struct {
	Namespace string
}

// NewNames validates a namespace ("" for Rust compatibility).
func NewNames(namespace string) (Names, error) {
	if namespace != "" && !namespaceRE.MatchString(namespace) {
		return Names{}, fmt.Errorf("nats namespace %q: use 1 to 32 letters, digits, '_' or '-'", namespace)
	}
	return Names{Namespace: namespace}, nil
}

// Bucket returns the namespaced name of a bucket.
func (n Names) Bucket(base string) string {
	if n.Namespace == "" {
		return base
	}
	return n.Namespace + "_" + base
}

// Stream returns the namespaced name of a stream.
func (n Names) Stream(base string) string { return n.Bucket(base) }

// Subject returns the namespaced form of a subject.
func (n Names) Subject(base string) string {
	if n.Namespace == "" {
		return base
	}
	return n.Namespace + "." + base
}

// DeleteSubject is the work-queue subject for deleting one session.
func (n Names) DeleteSubject(sessionID string) string {
	return n.Subject(deleteSubjectPrefix) + "." + sessionID
}

// MatchmakerRequest is the subject a gateway sends session requests to.
func (n Names) MatchmakerRequest(game, version string) string {
	return n.Subject("matchmaker.request." + game + "." + version)
}

// Webhook is the subject the webhook sink publishes POST /hook/<name> bodies on.
func (n Names) Webhook(name string) string { return n.Subject("webhook." + name) }

// GameServerContexts is where game servers publish their deployment context.
func (n Names) GameServerContexts() string { return n.Subject(SubjectGameServerContext) }

// GenSessionGroup is the micro service group of the gensession endpoint.
func (n Names) GenSessionGroup() string { return n.Subject("session") }

// GenSession is the subject of the gensession endpoint (session.gensession).
func (n Names) GenSession() string { return n.GenSessionGroup() + ".gensession" }
