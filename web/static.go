package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var staticFS embed.FS

// asset is an embedded static file, served under a name that carries a
// hash of its content: browsers may cache it forever, and a new release
// changes the name.
type asset struct {
	name    string // e.g. "console.3f2a9c1d.js"
	body    []byte
	typ     string
	logical string
}

// assets maps logical names ("console.js") and hashed names to files.
type assets struct {
	byLogical map[string]*asset
	byName    map[string]*asset
}

func loadAssets() (*assets, error) {
	a := &assets{byLogical: map[string]*asset{}, byName: map[string]*asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		logical := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(logical)
		name := strings.TrimSuffix(logical, ext) + "." + hex.EncodeToString(sum[:4]) + ext
		typ := mime.TypeByExtension(ext)
		if typ == "" {
			typ = "application/octet-stream"
		}
		f := &asset{name: name, body: body, typ: typ, logical: logical}
		a.byLogical[logical], a.byName[name] = f, f
		return nil
	})
	return a, err
}

// url is the address of a logical asset, for templates.
func (a *assets) url(logical string) (string, error) {
	f, ok := a.byLogical[logical]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", logical)
	}
	return "/static/" + f.name, nil
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byName[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.typ)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(f.body)
}
