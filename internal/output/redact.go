package output

import (
	"net/url"
	"strings"
)

// Redacted replaces a secret in printed data.
const Redacted = "[redacted]"

// secretParams are query parameters that carry a credential: the webhook
// secret bevygap puts on the URLs it gives Edgegap, and the usual others.
var secretParams = []string{"secret", "token", "key", "api_key", "apikey", "password", "sig", "signature"}

// RedactURL returns raw with the password of its user info and the values
// of credential query parameters (secret, token, key, ...) replaced by
// [redacted], for printing a URL that may carry one (an Edgegap session's
// webhook_url holds ?secret=<webhook-secret>). A string that does not parse
// as a URL but looks like it holds one of those parameters is redacted
// whole.
func RedactURL(raw string) string {
	if raw == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") || strings.Contains(raw, "=") {
			return Redacted
		}
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return Redacted
		}
		changed := false
		for k, vs := range q {
			if !isSecretParam(k) {
				continue
			}
			for i := range vs {
				vs[i] = Redacted
			}
			changed = true
		}
		if changed {
			// Encode sorts the keys; keep the brackets readable.
			u.RawQuery = strings.ReplaceAll(q.Encode(), url.QueryEscape(Redacted), Redacted)
		}
	}
	return strings.Replace(u.String(), url.QueryEscape(Redacted)+"@", Redacted+"@", 1)
}

func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretParams {
		if k == s {
			return true
		}
	}
	return false
}
