package api

import (
	"cmp"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// minSecretLen keeps redaction from mangling text around trivially short header values.
const minSecretLen = 4

// Redacted is what a secret becomes in text that is kept or shown.
const Redacted = "[redacted]"

// Redactor removes a target's secrets from text: every header value sent to it (and each word
// of one: the token of "Bearer …"), the password of its URL (as given and percent-encoded),
// the Basic token net/http builds from the URL's user and password, and the values of query
// parameters that look like keys (see RedactURL). A server may echo any of them back: in an
// error, a version, a model name, a done_reason.
type Redactor struct {
	secrets []string // longest first: a whole value goes before its words
}

// NewRedactor collects the secrets of a base URL and the headers sent with it.
func NewRedactor(baseURL string, header http.Header) *Redactor {
	var secrets []string
	add := func(s string) {
		if len(s) >= minSecretLen && !slices.Contains(secrets, s) {
			secrets = append(secrets, s)
		}
	}
	for _, vals := range header {
		for _, v := range vals {
			add(v)
			for _, f := range strings.Fields(v) {
				add(f)
			}
		}
	}
	if u, err := url.Parse(baseURL); err == nil {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p)
				add(url.PathEscape(p))
				add(url.QueryEscape(p))
				// net/http sends the user and password as "Authorization: Basic <this>".
				add(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p)))
			}
		}
		for k, vs := range u.Query() {
			if secretParam(k) {
				for _, v := range vs {
					add(v)
					add(url.QueryEscape(v))
				}
			}
		}
	}
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return &Redactor{secrets: secrets}
}

// Redact replaces every secret in s with Redacted. Without secrets it returns s at once.
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	for _, secret := range r.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	return s
}

// Empty reports whether there is nothing to redact.
func (r *Redactor) Empty() bool { return r == nil || len(r.secrets) == 0 }

// secretParam says whether a query parameter looks like it holds a key or a token.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "key") || strings.Contains(n, "token") || strings.Contains(n, "secret") ||
		strings.Contains(n, "password") || strings.Contains(n, "auth")
}

// RedactURL drops credentials from a URL before it is written anywhere: the user and password,
// and the values of query parameters that look like keys or tokens.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return redactParsedURL(u)
}

func redactParsedURL(u *url.URL) string {
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, "REDACTED")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
