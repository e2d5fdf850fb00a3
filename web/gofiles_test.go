package web

import "embed"

// goFiles are the package's own sources, for the catalog test to read.
//
//go:embed *.go
var goFiles embed.FS
