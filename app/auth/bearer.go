package auth

import (
	"errors"
	"strings"
)

// ErrMalformedAuthorization means an Authorization header that is not
// "Bearer <token>": another scheme, a missing token, extra fields or bad characters.
var ErrMalformedAuthorization = errors.New("authorization header is not Bearer <token>")

// ParseBearer extracts the token from an Authorization header value as RFC 6750
// section 2.1 defines it: the scheme "Bearer" in any case, one or more spaces,
// then a b64token. It is the one place the header is parsed.
func ParseBearer(header string) (string, error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMalformedAuthorization
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" || len(token) > 4096 {
		return "", ErrMalformedAuthorization
	}
	// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	i := 0
	for ; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return "", ErrMalformedAuthorization
	}
	for ; i < len(token); i++ {
		if token[i] != '=' {
			return "", ErrMalformedAuthorization
		}
	}
	return token, nil
}
