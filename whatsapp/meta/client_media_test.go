package meta_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFetchMediaByID(t *testing.T) {
	s, p, ch := setup(t)
	s.AddMedia("4490709327384033", "audio/ogg", []byte("OggS voice"))
	rc, mimeType, err := p.FetchMedia(context.Background(), ch, &parley.Media{ProviderMediaID: "4490709327384033"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); string(got) != "OggS voice" || mimeType != "audio/ogg" {
		t.Errorf("%q %s", got, mimeType)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/v23.0/4490709327384033" || reqs[0].Query.Get("phone_number_id") != metagraph.DefaultPhoneNumberID {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[1].Header.Get("Authorization") != "Bearer "+metagraph.DefaultToken {
		t.Error("the download was made without the bearer token")
	}
}

func TestFetchMediaLinkFirst(t *testing.T) {
	s, p, ch := setup(t)
	s.AddMedia("77", "image/jpeg", []byte("jpeg"))
	m := &parley.Media{ProviderMediaID: "77", Link: s.MediaURL("77"), MIMEType: "image/jpeg"}
	rc, _, err := p.FetchMedia(context.Background(), ch, m)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, rc)
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests; the link alone should do", n)
	}

	// The link expired: the ID gives a fresh one.
	s.ExpireMediaURLs()
	rc, mimeType, err := p.FetchMedia(context.Background(), ch, m)
	if err != nil {
		t.Fatal(err)
	}
	if string(readAll(t, rc)) != "jpeg" || mimeType != "image/jpeg" {
		t.Error("fallback download")
	}
	if n := len(s.Requests()); n != 4 {
		t.Errorf("%d requests, want 4 (link, link again, media node, download)", n)
	}

	// Without an ID the link's failure is the answer.
	_, _, err = p.FetchMedia(context.Background(), ch, &parley.Media{Link: m.Link})
	wantKind(t, err, whatsapp.Rejected)
}

// TestFetchMediaUntrustedLink: the token is never sent to an address a
// payload names that is not Meta's.
func TestFetchMediaUntrustedLink(t *testing.T) {
	s, p, ch := setup(t)
	s.AddMedia("78", "image/png", []byte("png"))
	var leaked bool
	p.HTTP.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "evil.example" {
			leaked = true
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	rc, _, err := p.FetchMedia(context.Background(), ch, &parley.Media{ProviderMediaID: "78", Link: "https://evil.example/steal"})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, rc)
	if leaked {
		t.Error("a request went to the untrusted link")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFetchMediaErrors(t *testing.T) {
	s, p, ch := setup(t)
	_, _, err := p.FetchMedia(context.Background(), ch, &parley.Media{ProviderMediaID: "nope"})
	wantKind(t, err, whatsapp.Rejected)
	if !strings.HasPrefix(err.Error(), "meta: fetch media: ") {
		t.Errorf("error %q", err)
	}
	s.AddMedia("79", "image/png", []byte("png"))
	s.RevokeToken(metagraph.DefaultToken)
	_, _, err = p.FetchMedia(context.Background(), ch, &parley.Media{ProviderMediaID: "79"})
	wantKind(t, err, whatsapp.Unauthorized)
	_, _, err = p.FetchMedia(context.Background(), ch, &parley.Media{})
	wantKind(t, err, whatsapp.Rejected)
}

// TestFetchMediaSizeLimit: a body past MaxMediaSize fails instead of
// being cut short, whether announced or not.
func TestFetchMediaSizeLimit(t *testing.T) {
	ch := &parley.Channel{Meta: &parley.MetaConfig{AccessToken: "t", PhoneNumberID: "1", GraphURL: "https://graph.test"}}
	for _, announced := range []bool{true, false} {
		p := meta.New(&http.Client{Timeout: time.Minute, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"video/mp4"}}, Request: r, ContentLength: -1,
				Body: io.NopCloser(io.LimitReader(zeros{}, meta.MaxMediaSize+1))}
			if announced {
				resp.ContentLength = meta.MaxMediaSize + 1
			}
			return resp, nil
		})})
		rc, _, err := p.FetchMedia(context.Background(), ch, &parley.Media{Link: "https://graph.test/v23.0/media-file"})
		if announced {
			wantKind(t, err, whatsapp.Rejected)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err == nil || n != meta.MaxMediaSize {
			t.Errorf("read %d bytes, err %v; want %d and an error", n, err, meta.MaxMediaSize)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
