package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks libraries' published test vector.
func TestVerifyVector(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	at := time.Unix(1614265330, 0)
	if err := verify(secret, h, body, at); err != nil {
		t.Fatal(err)
	}
	if err := verify(secret, h, body, at.Add(6*time.Minute)); err == nil {
		t.Error("a stale timestamp verified")
	}
	if err := verify(secret, h, []byte(`{"test": 1}`), at); err == nil {
		t.Error("another body verified")
	}
}

// TestPushAndReceive: a pushed contact is signed so that the receiver's
// own check accepts it, and an activity is printed.
func TestPushAndReceive(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var out bytes.Buffer
	srv := httptest.NewServer(receiver(secret, &out))
	defer srv.Close()

	body, err := contactEvent("contact", "101", "", "Ana", []string{"+55 11 98765-4321"}, map[string]string{"plan": "gold"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := signedRequest(srv.URL, secret, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(secret, req.Header, body, time.Now()); err != nil {
		t.Fatalf("the push does not verify: %v", err)
	}

	activity := []byte(`{"type":"message.created","data":{"message_id":"msg_1","direction":"inbound","status":"received","body":"Oi",
		"from":"+5511987654321","to":"+15550100","records":[{"entity":"contact","source_crm_id":"101"}]}}`)
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(activity))
		req.Header.Set("webhook-id", "evt_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	sig, _ := sign(secret, "evt_1", time.Now().Unix(), activity)
	if s := post(sig); s != http.StatusNoContent {
		t.Fatalf("a signed activity: %d", s)
	}
	if s := post("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="); s != http.StatusUnauthorized {
		t.Fatalf("a forged activity: %d", s)
	}
	if !strings.Contains(out.String(), `message.created [received] inbound +5511987654321 -> +15550100 "Oi" on contact:101`) {
		t.Errorf("printed %q", out.String())
	}
}
