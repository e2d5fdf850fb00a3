package webhook

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// The test vector published with the Standard Webhooks libraries
// (libraries/go/webhook_test.go, TestWebhookSign).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload))
	if err != nil || got != vectorSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, vectorSignature)
	}
	// The whsec_ prefix is optional.
	if got, _ := Sign(vectorSecret[len("whsec_"):], vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload)); got != vectorSignature {
		t.Errorf("Sign without the prefix = %q", got)
	}
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorTimestamp, 0)
	header := func(mod func(h http.Header)) http.Header {
		h := http.Header{}
		h.Set(HeaderID, vectorID)
		h.Set(HeaderTimestamp, strconv.Itoa(vectorTimestamp))
		h.Set(HeaderSignature, vectorSignature)
		if mod != nil {
			mod(h)
		}
		return h
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		ok   bool
	}{
		{"the vector", header(nil), vectorPayload, at, true},
		{"4m59s late", header(nil), vectorPayload, at.Add(Tolerance - time.Second), true},
		{"4m59s early", header(nil), vectorPayload, at.Add(-Tolerance + time.Second), true},
		{"5m01s late", header(nil), vectorPayload, at.Add(Tolerance + time.Second), false},
		{"5m01s early", header(nil), vectorPayload, at.Add(-Tolerance - time.Second), false},
		{"one of several", header(func(h http.Header) {
			h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x "+vectorSignature)
		}), vectorPayload, at, true},
		{"another body", header(nil), `{"test": 2432232315}`, at, false},
		{"a wrong signature", header(func(h http.Header) { h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=") }), vectorPayload, at, false},
		{"another version", header(func(h http.Header) { h.Set(HeaderSignature, "v1a"+vectorSignature[2:]) }), vectorPayload, at, false},
		{"another id", header(func(h http.Header) { h.Set(HeaderID, "msg_other") }), vectorPayload, at, false},
		{"no id", header(func(h http.Header) { h.Del(HeaderID) }), vectorPayload, at, false},
		{"no timestamp", header(func(h http.Header) { h.Del(HeaderTimestamp) }), vectorPayload, at, false},
		{"a timestamp not in seconds", header(func(h http.Header) { h.Set(HeaderTimestamp, "2021-02-25") }), vectorPayload, at, false},
		{"no signature", header(func(h http.Header) { h.Del(HeaderSignature) }), vectorPayload, at, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := Verify(vectorSecret, tc.h, []byte(tc.body), tc.now)
			if tc.ok && (err != nil || id != vectorID) {
				t.Fatalf("Verify = %q, %v", id, err)
			}
			if !tc.ok && parley.ErrorCode(err) != parley.EUNAUTHORIZED {
				t.Fatalf("Verify = %q, %v; want unauthorized", id, err)
			}
		})
	}
}

func TestSignedHeadersRoundTrip(t *testing.T) {
	secret := parley.NewWebhookSecret()
	now := time.Now()
	h, err := SignedHeaders(secret, "evt_1", now, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := Verify(secret, h, []byte(`{}`), now); err != nil || id != "evt_1" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	if _, err := Verify(parley.NewWebhookSecret(), h, []byte(`{}`), now); err == nil {
		t.Error("another secret verified")
	}
}
