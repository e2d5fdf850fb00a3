// Command crm-receiver is a CRM's side of Parley's webhook connector, in
// the standard library only, to run as it is or to copy into a CRM
// integration:
//
//	# receive activities (messages and statuses), verifying their signature
//	go run ./examples/crm-receiver -listen :9000 -secret whsec_…signing_secret…
//
//	# push a contact into Parley, signed with the connector's inbound secret
//	go run ./examples/crm-receiver -push -to http://localhost:8080/webhooks/crm/crm_… \
//	    -secret whsec_…inbound_secret… -id 101 -name "Ana Souza" -phone "+55 11 98765-4321" -field plan=gold
//
// With -curl, -push prints the signed request as a curl command instead of
// sending it. docs/any-crm.md walks through a whole setup.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// tolerance is how far a webhook's timestamp may be from now.
const tolerance = 5 * time.Minute

// secretKey decodes a Standard Webhooks secret: whsec_ and base64.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, errors.New("the secret must be whsec_ followed by base64")
	}
	return key, nil
}

// sign is the webhook-signature of a message.
func sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%s.%d.", id, ts)
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// verify checks a message's Standard Webhooks headers against its body.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if id == "" || err != nil || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp too old or too new")
	}
	want, err := sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// receiver answers Parley's posts: activities are printed, lead.create
// gets a new ID. A production receiver would also drop a webhook-id it has
// already processed: Parley keeps an event's id when it retries it.
func receiver(secret string, out io.Writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := verify(secret, r.Header, body, time.Now()); err != nil {
			fmt.Fprintf(out, "refused a post: %v\n", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				MessageID string `json:"message_id"`
				Direction string `json:"direction"`
				Status    string `json:"status"`
				Body      string `json:"body"`
				From      string `json:"from"`
				To        string `json:"to"`
				Records   []struct {
					Entity      string `json:"entity"`
					SourceCRMID string `json:"source_crm_id"`
				} `json:"records"`
				Name  string `json:"name"`
				Phone string `json:"phone"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		d := ev.Data
		if ev.Type == "lead.create" {
			id := "L-" + newID()[:8]
			fmt.Fprintf(out, "lead.create: %s %s -> %s\n", d.Name, d.Phone, id)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"id": id})
			return
		}
		var recs []string
		for _, rec := range d.Records {
			recs = append(recs, rec.Entity+":"+rec.SourceCRMID)
		}
		fmt.Fprintf(out, "%s %s [%s] %s %s -> %s %q on %s\n", r.Header.Get("webhook-id"), ev.Type, d.Status, d.Direction, d.From, d.To,
			d.Body, strings.Join(recs, ","))
		w.WriteHeader(http.StatusNoContent)
	})
}

// contactEvent is a record change as Parley's webhook takes it.
func contactEvent(entity, id, url, name string, phones []string, fields map[string]string) ([]byte, error) {
	f := map[string]any{"name": name, "phones": phones}
	for k, v := range fields {
		f[k] = v
	}
	ev := map[string]any{"type": "updated", "entity": entity, "source_crm": "crm-receiver", "source_crm_id": id, "fields": f}
	if url != "" {
		ev["source_crm_url"] = url
	}
	return json.Marshal(ev)
}

// signedRequest is a POST of body to Parley, signed with the inbound secret.
func signedRequest(to, secret string, body []byte, now time.Time) (*http.Request, error) {
	id := "msg_" + newID()
	sig, err := sign(secret, id, now.Unix(), body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req, nil
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fieldFlags collects repeated -field name=value flags.
type fieldFlags map[string]string

func (f fieldFlags) String() string { return fmt.Sprint(map[string]string(f)) }
func (f fieldFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("a field is name=value")
	}
	f[k] = v
	return nil
}

func main() {
	var (
		listen = flag.String("listen", ":9000", "address to receive Parley's activities on")
		secret = flag.String("secret", os.Getenv("CRM_WEBHOOK_SECRET"),
			"Standard Webhooks secret: the connector's signing_secret to receive, its inbound_secret with -push")
		push   = flag.Bool("push", false, "push one record into Parley instead of receiving")
		to     = flag.String("to", "", "with -push: the connector's inbound_url")
		entity = flag.String("entity", "contact", "with -push: the record's entity")
		id     = flag.String("id", "", "with -push: the record's ID in the CRM")
		name   = flag.String("name", "", "with -push: the record's name")
		url    = flag.String("url", "", "with -push: the record's page in the CRM")
		phone  = flag.String("phone", "", "with -push: phones, separated by ;")
		curl   = flag.Bool("curl", false, "with -push: print a curl command instead of sending")
	)
	fields := fieldFlags{}
	flag.Var(fields, "field", "with -push: a custom field, name=value (repeatable)")
	flag.Parse()
	if *secret == "" {
		log.Fatal("give -secret (or CRM_WEBHOOK_SECRET)")
	}
	if !*push {
		log.Printf("receiving Parley's activities on %s", *listen)
		log.Fatal(http.ListenAndServe(*listen, receiver(*secret, os.Stdout)))
	}
	if *to == "" || *id == "" {
		log.Fatal("-push needs -to and -id")
	}
	body, err := contactEvent(*entity, *id, *url, *name, strings.Split(*phone, ";"), fields)
	if err != nil {
		log.Fatal(err)
	}
	req, err := signedRequest(*to, *secret, body, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	if *curl {
		fmt.Printf("curl -X POST %q -H 'Content-Type: application/json' -H 'webhook-id: %s' -H 'webhook-timestamp: %s' -H 'webhook-signature: %s' --data '%s'\n",
			*to, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s %s\n", resp.Status, bytes.TrimSpace(answer))
	if resp.StatusCode/100 != 2 {
		os.Exit(1)
	}
}
