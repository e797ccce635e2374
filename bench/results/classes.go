package results

// Outcome classes of a request: the keys of Counts.Errors and Warmup.Errors (every class but
// ClassOK). The engine's api.Class constants carry the same values; these are the names a
// reader of results files needs without linking the HTTP client.
const (
	ClassOK               = "ok"
	ClassConnRefused      = "connection_refused"
	ClassNotFound         = "http_404"
	ClassBadRequest       = "http_400"
	ClassBusy             = "http_503"
	ClassHTTP4xx          = "http_4xx" // any other 4xx
	ClassHTTP5xx          = "http_5xx" // any other 5xx
	ClassStreamError      = "stream_error"
	ClassTruncated        = "truncated"
	ClassMalformed        = "malformed"
	ClassTimeoutFirstByte = "timeout_first_byte"
	ClassTimeoutStall     = "timeout_stall"
	ClassTimeoutTotal     = "timeout_total"
	ClassCancelled        = "cancelled"
	ClassNetwork          = "network_error" // reset, EOF before headers, other transport failures
	// ClassRequestError: the request could not be built; nothing was sent.
	ClassRequestError = "request_error"
	// ClassHTTPOther: a final status that is neither 2xx, 3xx, 4xx nor 5xx.
	ClassHTTPOther = "http_other"
	// ClassRedirect: a 3xx reply, not followed; the error text names where it pointed.
	ClassRedirect = "redirect"
	// ClassClientLimit: the client ran out of file descriptors or local ports and could not
	// send; not the server's failure.
	ClassClientLimit = "client_limit"
)

// ErrorClasses lists every failure class, in the order help texts list them.
func ErrorClasses() []string {
	return []string{
		ClassConnRefused, ClassNotFound, ClassBadRequest, ClassBusy, ClassHTTP4xx,
		ClassHTTP5xx, ClassStreamError, ClassTruncated, ClassMalformed,
		ClassTimeoutFirstByte, ClassTimeoutStall, ClassTimeoutTotal, ClassCancelled,
		ClassNetwork, ClassRequestError, ClassHTTPOther, ClassRedirect, ClassClientLimit,
	}
}
