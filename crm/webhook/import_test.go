package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/parleyhq/parley"
)

// TestFetchPageCursor: pages followed by a cursor read from each page and
// sent back as a parameter, with the endpoint's headers; the last page
// has no cursor.
func TestFetchPageCursor(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		switch r.URL.Query().Get("after") {
		case "":
			fmt.Fprint(w, `{"data":{"items":[{"entity":"contact","id":"1"}]},"meta":{"next_cursor":"abc"}}`)
		case "abc":
			fmt.Fprint(w, `{"data":{"items":[{"entity":"contact","id":"2"}]},"meta":{"next_cursor":null}}`)
		default:
			http.Error(w, "no", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	s := &Service{}
	im := &parley.WebhookImport{URL: srv.URL + "/contacts?limit=100", ItemsPath: "data.items", CursorParam: "after", CursorPath: "meta.next_cursor",
		Headers: map[string]string{"Authorization": "Bearer t"}}
	p, err := s.fetchPage(context.Background(), im, "")
	if err != nil || len(p.items) != 1 || p.next != "abc" {
		t.Fatalf("first page %+v, %v", p, err)
	}
	p, err = s.fetchPage(context.Background(), im, p.next)
	if err != nil || len(p.items) != 1 || p.next != "" {
		t.Fatalf("second page %+v, %v", p, err)
	}
	if len(auth) != 2 || auth[0] != "Bearer t" || auth[1] != "Bearer t" {
		t.Errorf("headers %v", auth)
	}
	if _, err := s.fetchPage(context.Background(), im, "zzz"); err == nil {
		t.Error("a 400 page read")
	}
}

// TestFetchPageKeepsCredentialsHome: a next link to another host is
// followed without the endpoint's headers.
func TestFetchPageKeepsCredentialsHome(t *testing.T) {
	var got string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		fmt.Fprint(w, `[]`)
	}))
	defer other.Close()
	s := &Service{}
	im := &parley.WebhookImport{URL: "http://localhost:1/contacts", NextPath: "next", Headers: map[string]string{"Authorization": "Bearer t"}}
	if _, err := s.fetchPage(context.Background(), im, other.URL+"/p2"); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Errorf("credentials sent to another host: %q", got)
	}
}
