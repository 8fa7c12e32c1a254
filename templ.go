// Package securechat is the module root: it embeds the static assets so the
// binary ships them, and carries the go:generate line for the templ views.
package securechat

import (
	"embed"
	"io/fs"
)

//go:generate go tool templ generate

//go:embed static
var static embed.FS

// Static returns the embedded static/ folder, rooted at its contents.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// "static" is a literal directory embedded above: Sub cannot fail.
		panic(err)
	}
	return sub
}
