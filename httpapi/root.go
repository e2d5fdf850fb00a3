package httpapi

import (
	"embed"
	"html/template"
	"net/http"
)

//go:embed assets
var assets embed.FS

var rootPage = template.Must(template.ParseFS(assets, "assets/root.html"))

// RootInfo is what the root page says about the running instance.
type RootInfo struct {
	Mode          string
	Database      string
	Version       string
	BaseURL       string
	Tenants       int
	Channels      int
	Conversations int
	Messages      int
	Demo          *DemoInfo
}

// DemoInfo is shown on the root page of `parley demo`, which runs on a
// developer's machine with made-up data.
type DemoInfo struct {
	APIKey        string
	ChannelID     string
	CustomerPhone string
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	info := RootInfo{Mode: "serving", BaseURL: s.BaseURL}
	if s.Info != nil {
		info = s.Info(r.Context())
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := rootPage.Execute(w, info); err != nil {
		s.Log.Error("render root page", "error", err)
	}
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, assets, "assets/parley.css")
}
