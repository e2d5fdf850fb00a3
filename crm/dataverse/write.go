package dataverse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxBatch is the most operations Batch sends in one change set. Dataverse
// takes 1000 requests in a $batch; a change set is one transaction, and a
// smaller one holds its locks for less time and loses less when it rolls
// back.
const MaxBatch = 100

// Create adds a row and returns its ID, read from OData-EntityId
// (create-odata-bind.exchange.http). Lookups are set with
// "<navigation property>@odata.bind": "/accounts(<id>)". A create is not
// retried after a server error: it may have happened.
func (c *Client) Create(ctx context.Context, entitySet string, body map[string]any) (string, error) {
	b, err := marshal(body)
	if err != nil {
		return "", fmt.Errorf("dataverse: create %s: %w", entitySet, err)
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, url: c.api + "/" + pathEscape(entitySet), body: b}, nil)
	if err != nil {
		return "", fmt.Errorf("dataverse: create %s: %w", entitySet, err)
	}
	id, ok := entityID(resp.header.Get("OData-EntityId"))
	if !ok {
		return "", fmt.Errorf("dataverse: create %s: the answer has no OData-EntityId", entitySet)
	}
	return id, nil
}

// entityID is the key in an entity URL, such as the GUID of
// [Organization URI]/api/data/v9.2/accounts(7eb682f1-…).
func entityID(u string) (string, bool) {
	i, j := strings.LastIndexByte(u, '('), strings.LastIndexByte(u, ')')
	if i < 0 || j < i+2 {
		return "", false
	}
	return u[i+1 : j], true
}

// Upsert creates or updates the row of an alternate key, such as
// Key("parley_messageid", id) (upsert-alternate-key.exchange.http). It is
// idempotent, so logging a message twice leaves one activity, and it is
// retried after server errors. The body must not repeat the key's
// columns: Dataverse takes them from the key.
func (c *Client) Upsert(ctx context.Context, entitySet, key string, body map[string]any) error {
	b, err := marshal(body)
	if err != nil {
		return fmt.Errorf("dataverse: upsert %s: %w", entitySet, err)
	}
	u := c.api + "/" + pathEscape(entitySet+"("+key+")")
	if _, err := c.do(ctx, &request{method: http.MethodPatch, url: u, body: b, idempotent: true}, nil); err != nil {
		return fmt.Errorf("dataverse: upsert %s(%s): %w", entitySet, key, err)
	}
	return nil
}

// Op is one operation of a Batch.
type Op struct {
	Method string // POST (create), PATCH (update or upsert), PUT or DELETE
	// Path is relative to the Web API root: an entity set for a create
	// ("parley_whatsappmessages"), an entity otherwise
	// ("parley_whatsappmessages(parley_messageid='wamid.X')").
	Path string
	Body map[string]any
}

// OpError is the failure of one operation of a Batch, which rolled the
// whole change set back.
type OpError struct {
	Index int // in the ops given to Batch; -1 when Dataverse did not say
	Err   *Error
}

func (e *OpError) Error() string { return fmt.Sprintf("operation %d: %v", e.Index, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// Batch runs up to MaxBatch operations as one change set of one $batch:
// all of them happen or none (execute-batch-operations-using-web-api). It
// costs one request of the concurrency limit, however many operations it
// holds. A failed operation is returned as an *OpError. A batch of
// upserts and PUTs is retried after server errors; one with creates is
// not.
func (c *Client) Batch(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) > MaxBatch {
		return fmt.Errorf("dataverse: batch: %d operations; split them in batches of at most %d", len(ops), MaxBatch)
	}
	for i, op := range ops {
		if op.Method == "" || op.Path == "" {
			return fmt.Errorf("dataverse: batch: operation %d has no method or path", i)
		}
	}
	body, contentType, err := c.batchBody(ops)
	if err != nil {
		return fmt.Errorf("dataverse: batch: %w", err)
	}
	idempotent := true
	for _, op := range ops {
		if op.Method != http.MethodPatch && op.Method != http.MethodPut {
			idempotent = false
		}
	}
	r := &request{method: http.MethodPost, url: c.api + "/$batch", body: body,
		header: http.Header{"Content-Type": {contentType}}, idempotent: idempotent, multipart: true}
	resp, err := c.do(ctx, r, nil)
	if err != nil {
		return fmt.Errorf("dataverse: batch of %d: %w", len(ops), err)
	}
	results, err := readBatch(resp)
	if err != nil {
		return fmt.Errorf("dataverse: batch of %d: reading the answer: %w", len(ops), err)
	}
	for i, res := range results {
		if res.status < 300 {
			continue
		}
		index := -1
		if n, err := strconv.Atoi(res.contentID); err == nil && n >= 1 && n <= len(ops) {
			index = n - 1
		} else if len(results) == len(ops) {
			index = i
		}
		e := parseError(&response{status: res.status, body: res.body})
		return fmt.Errorf("dataverse: batch of %d: %w", len(ops), &OpError{Index: index, Err: e})
	}
	if resp.status >= 300 || len(results) != len(ops) {
		return fmt.Errorf("dataverse: batch of %d: %d answered with %d parts", len(ops), resp.status, len(results))
	}
	return nil
}

// batchBody writes the change set as batch-changeset.request.http does,
// with CRLF line ends: each operation a part of type application/http with
// its Content-ID, holding the request line with the absolute path, its
// headers, a blank line and the JSON body.
func (c *Client) batchBody(ops []Op) (body []byte, contentType string, err error) {
	base, err := url.Parse(c.api)
	if err != nil {
		return nil, "", err
	}
	batch, changeset := "batch_"+newBoundary(), "changeset_"+newBoundary()
	var b bytes.Buffer
	line := func(s string) { b.WriteString(s + "\r\n") }
	line("--" + batch)
	line(`Content-Type: multipart/mixed; boundary="` + changeset + `"`)
	line("")
	for i, op := range ops {
		line("--" + changeset)
		line("Content-Type: application/http")
		line("Content-Transfer-Encoding: binary")
		line("Content-ID: " + strconv.Itoa(i+1))
		line("")
		line(op.Method + " " + base.EscapedPath() + "/" + pathEscape(op.Path) + " HTTP/1.1")
		if op.Body != nil {
			j, err := marshal(op.Body)
			if err != nil {
				return nil, "", fmt.Errorf("operation %d: %w", i, err)
			}
			line("Content-Type: application/json; type=entry")
			line("")
			b.Write(j)
			line("")
		} else {
			line("")
			line("")
		}
	}
	line("--" + changeset + "--")
	line("")
	line("--" + batch + "--")
	return b.Bytes(), `multipart/mixed; boundary="` + batch + `"`, nil
}

func newBoundary() string {
	var u [16]byte
	rand.Read(u[:])
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// batchResult is the answer to one operation of a $batch.
type batchResult struct {
	contentID string
	status    int
	header    http.Header
	body      []byte
}

// readBatch reads a $batch answer (batch-changeset.response.http,
// batch-error-stop.response.http): application/http parts, possibly inside
// a change set's multipart/mixed part.
func readBatch(resp *response) ([]batchResult, error) {
	mt, params, err := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("the answer is %q, not multipart", resp.header.Get("Content-Type"))
	}
	var out []batchResult
	err = readParts(multipart.NewReader(bytes.NewReader(resp.body), params["boundary"]), &out)
	return out, err
}

func readParts(mr *multipart.Reader, out *[]batchResult) error {
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		mt, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case strings.HasPrefix(mt, "multipart/"):
			if err := readParts(multipart.NewReader(p, params["boundary"]), out); err != nil {
				return err
			}
		case mt == "application/http":
			res, err := http.ReadResponse(bufio.NewReader(p), nil)
			if err != nil {
				return fmt.Errorf("part %d: %w", len(*out)+1, err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return fmt.Errorf("part %d: %w", len(*out)+1, err)
			}
			*out = append(*out, batchResult{contentID: p.Header.Get("Content-ID"), status: res.StatusCode, header: res.Header, body: body})
		default:
			return fmt.Errorf("a part of type %q", mt)
		}
	}
}

// marshal writes a JSON body without HTML escaping, so that a message's
// "<" and "&" stay readable in Dataverse's audit and in tests.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
