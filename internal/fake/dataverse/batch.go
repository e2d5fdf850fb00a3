package dataverse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// $batch (execute-batch-operations-using-web-api, batch-*.http). The body
// is multipart/mixed with CRLF line endings. Each part is one request
// (application/http) or a change set (multipart/mixed with its own
// boundary) whose requests succeed or fail together and may refer to the
// rows created before them as $<Content-ID>. Requests run in order; the
// first failure stops the batch unless Prefer: odata.continue-on-error
// asks to go on. The answer is multipart/mixed too, one part per request,
// and a change set answers a nested multipart of its own.

// batchRequest is one request inside a $batch.
type batchRequest struct {
	method, target string // target as written on the request line
	header         http.Header
	body           []byte
	contentID      string
}

// batchItem is one part of a $batch: a request, or a change set.
type batchItem struct {
	req       *batchRequest
	changeSet []*batchRequest
}

// errNotCRLF is how the fake words a batch whose lines end with LF alone:
// Dataverse reads such a body as a single part it cannot parse (guess).
func errNotCRLF() *apiError {
	return errQuery("The batch request body is not valid: its lines must end with CRLF.")
}

func (s *Server) batch(c *call) reply {
	if c.method != http.MethodPost {
		return s.reject(c, docBatch+": a $batch is sent with POST",
			errorf(http.StatusMethodNotAllowed, "0x80060888", "The requested resource does not support http method '%s'.", c.method)).reply()
	}
	if len(c.query) > 0 {
		return s.reject(c, docBatch, errQuery("A $batch request takes no query options.")).reply()
	}
	_, params, _ := mime.ParseMediaType(c.header.Get("Content-Type"))
	items, e := s.parseBatch(c, c.body, params["boundary"])
	if e != nil {
		return e.reply()
	}
	n := 0
	for _, it := range items {
		n += max(len(it.changeSet), 1)
	}
	if n > maxBatch {
		return s.reject(c, docBatch+": \"Batch requests can contain up to 1000 individual requests\"",
			errQuery("The batch contains %d requests; the maximum is %d.", n, maxBatch)).reply()
	}
	return s.runBatch(c, items)
}

// parseBatch splits the body into its requests and change sets.
func (s *Server) parseBatch(c *call, body []byte, boundary string) ([]batchItem, *apiError) {
	parts, err := splitMultipart(body, boundary)
	if err != nil {
		return nil, s.reject(c, docBatch+": "+err.Error(), errNotCRLF())
	}
	var items []batchItem
	ids := map[string]bool{}
	for _, p := range parts {
		h, content, err := splitPart(p)
		if err != nil {
			return nil, s.reject(c, docBatch+": "+err.Error(), errNotCRLF())
		}
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		switch mt {
		case "application/http":
			r, e := s.parseInner(c, h, content)
			if e != nil {
				return nil, e
			}
			items = append(items, batchItem{req: r})
		case "multipart/mixed":
			cs, e := s.parseChangeSet(c, content, params["boundary"], ids)
			if e != nil {
				return nil, e
			}
			items = append(items, batchItem{changeSet: cs})
		default:
			return nil, s.reject(c, docBatch+": each part is application/http or a multipart/mixed change set",
				errQuery("The content type %q of a batch part is not supported.", h.Get("Content-Type")))
		}
	}
	if len(items) == 0 {
		return nil, s.reject(c, docBatch, errQuery("The batch request contains no requests."))
	}
	return items, nil
}

// parseChangeSet reads a change set: requests that change data, each with
// a Content-ID unique in the batch.
func (s *Server) parseChangeSet(c *call, body []byte, boundary string, ids map[string]bool) ([]*batchRequest, *apiError) {
	if boundary == "" {
		return nil, s.reject(c, docBatch+": a change set has Content-Type multipart/mixed with a boundary", errQuery("The change set has no boundary."))
	}
	parts, err := splitMultipart(body, boundary)
	if err != nil {
		return nil, s.reject(c, docBatch+": "+err.Error(), errNotCRLF())
	}
	var out []*batchRequest
	for _, p := range parts {
		h, content, err := splitPart(p)
		if err != nil {
			return nil, s.reject(c, docBatch+": "+err.Error(), errNotCRLF())
		}
		if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "application/http" {
			return nil, s.reject(c, docBatch+": a change set holds application/http parts only",
				errQuery("The content type %q is not valid inside a change set.", h.Get("Content-Type")))
		}
		r, e := s.parseInner(c, h, content)
		if e != nil {
			return nil, e
		}
		if r.method == http.MethodGet {
			return nil, s.reject(c, docBatch+": \"GET request are not allowed within change sets\"",
				errQuery("A GET request is not allowed within a change set."))
		}
		if r.contentID != "" {
			if ids[r.contentID] {
				return nil, s.reject(c, docBatch+": Content-ID values are unique", errQuery("The Content-ID '%s' is used twice in the batch.", r.contentID))
			}
			ids[r.contentID] = true
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, s.reject(c, docBatch, errQuery("The change set contains no requests."))
	}
	return out, nil
}

// parseInner reads an application/http part: a request line, headers and
// a body.
func (s *Server) parseInner(c *call, partHeader textproto.MIMEHeader, content []byte) (*batchRequest, *apiError) {
	if te := partHeader.Get("Content-Transfer-Encoding"); te != "binary" {
		s.misuse(c, docBatch, "a part has Content-Transfer-Encoding %q; the documentation sends binary", te)
	}
	line, rest, ok := bytes.Cut(content, []byte("\r\n"))
	if !ok {
		rest = nil
	}
	method, target, proto := splitRequestLine(string(line))
	if proto != "HTTP/1.1" || method == "" || target == "" {
		return nil, s.reject(c, docBatch+": a part's request line is \"METHOD URL HTTP/1.1\"",
			errQuery("The request line %q of a batch part is not valid.", line))
	}
	h, body, err := splitPart(rest)
	if err != nil {
		return nil, s.reject(c, docBatch+": "+err.Error(), errNotCRLF())
	}
	return &batchRequest{method: method, target: target, header: http.Header(h), body: body, contentID: partHeader.Get("Content-ID")}, nil
}

func splitRequestLine(line string) (method, target, proto string) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return "", "", ""
	}
	return f[0], f[1], f[2]
}

// splitMultipart returns the parts of a multipart body (RFC 2046): the
// content between delimiter lines "--boundary", up to "--boundary--". The
// CRLF before a delimiter belongs to the delimiter. A delimiter line that
// ends with LF alone is refused, as Dataverse refuses it.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	delim := []byte("--" + boundary)
	var start int
	switch {
	case bytes.HasPrefix(body, delim):
		start = 0
	default:
		i := bytes.Index(body, append([]byte("\r\n"), delim...))
		if i < 0 {
			if bytes.Contains(body, delim) {
				return nil, fmt.Errorf("the delimiter --%s is not on a line ending with CRLF", boundary)
			}
			return nil, fmt.Errorf("the body has no delimiter --%s", boundary)
		}
		start = i + 2
	}
	var parts [][]byte
	pos := start
	for {
		pos += len(delim)
		if bytes.HasPrefix(body[pos:], []byte("--")) {
			return parts, nil
		}
		eol := bytes.IndexByte(body[pos:], '\n')
		if eol < 0 {
			return nil, fmt.Errorf("the delimiter --%s ends the body without --", boundary)
		}
		if eol == 0 || body[pos+eol-1] != '\r' || strings.TrimSpace(string(body[pos:pos+eol-1])) != "" {
			return nil, fmt.Errorf("the delimiter line --%s must end with CRLF", boundary)
		}
		pos += eol + 1
		next := bytes.Index(body[pos:], append([]byte("\r\n"), delim...))
		if next < 0 {
			return nil, fmt.Errorf("the part after --%s has no closing delimiter --%s-- on a CRLF line", boundary, boundary)
		}
		parts = append(parts, body[pos:pos+next])
		pos += next + 2
	}
}

// splitPart splits a part into its headers and its content at the first
// empty line, which must be CRLF CRLF.
func splitPart(p []byte) (textproto.MIMEHeader, []byte, error) {
	var head, content []byte
	if bytes.HasPrefix(p, []byte("\r\n")) {
		head, content = nil, p[2:]
	} else {
		var ok bool
		head, content, ok = bytes.Cut(p, []byte("\r\n\r\n"))
		if !ok {
			if bytes.Contains(p, []byte("\n\n")) || !bytes.Contains(p, []byte("\r\n")) {
				return nil, nil, fmt.Errorf("the headers of a part must end with CRLF CRLF, not LF")
			}
			head, content = bytes.TrimSuffix(p, []byte("\r\n")), nil
		}
		head = append(head, "\r\n"...)
	}
	h := textproto.MIMEHeader{}
	for _, line := range strings.Split(strings.TrimSuffix(string(head), "\r\n"), "\r\n") {
		if line == "" {
			continue
		}
		if strings.ContainsRune(line, '\n') {
			return nil, nil, fmt.Errorf("the header line %q ends with LF, not CRLF", line)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("the header line %q has no colon", line)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h, content, nil
}

// runBatch runs the parsed requests in order and writes the answer.
func (s *Server) runBatch(c *call, items []batchItem) reply {
	boundary := "batchresponse_" + uuid()
	var b bytes.Buffer
	status := http.StatusOK
	for _, it := range items {
		failed := s.runItem(c, it, &b, boundary)
		if failed != nil && !c.prefer.continueOnError {
			// "The batch error represents the error of the first failing
			// request" (batch-error-stop.response.http).
			status = failed.status
			break
		}
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	h := http.Header{"Content-Type": {"multipart/mixed; boundary=" + boundary}, "Odata-Version": {"4.0"}}
	if c.prefer.continueOnError {
		h.Set("Preference-Applied", "odata.continue-on-error")
	}
	return reply{status: status, header: h, body: b.Bytes(), throttleCounted: status == http.StatusTooManyRequests}
}

// runItem runs one request or change set, writes its answer as a part of
// the batch response, and returns the failed answer, if any.
func (s *Server) runItem(c *call, it batchItem, b *bytes.Buffer, boundary string) *reply {
	if it.req != nil {
		rep := s.runInner(it.req, nil)
		writePart(b, boundary, "", rep)
		if rep.status >= 400 {
			return &rep
		}
		return nil
	}
	// A change set is all or nothing: on failure the store goes back to
	// what it was, and the change set answers the failure alone (OData
	// 4.0, 11.7.4).
	saved := s.st.clone()
	refs := map[string]string{}
	csBoundary := "changesetresponse_" + uuid()
	var cs bytes.Buffer
	for _, r := range it.changeSet {
		rep := s.runInner(r, refs)
		if rep.status >= 400 {
			s.st = saved
			writePart(b, boundary, r.contentID, rep)
			return &rep
		}
		if id := rep.header.Get("Odata-Entityid"); id != "" && r.contentID != "" {
			refs[r.contentID] = id
		}
		writePart(&cs, csBoundary, r.contentID, rep)
	}
	fmt.Fprintf(&cs, "--%s--", csBoundary)
	fmt.Fprintf(b, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", boundary, csBoundary)
	b.Write(cs.Bytes())
	b.WriteString("\r\n")
	return nil
}

// runInner serves one request of a batch: it is logged and charged
// against service protection like any request, and its $<Content-ID>
// references are replaced by the URLs of the rows they name.
func (s *Server) runInner(r *batchRequest, refs map[string]string) reply {
	i := s.logRequest(Request{Method: r.method, Path: r.target, Header: r.header, Body: r.body, InBatch: true, ContentID: r.contentID})
	rep, u, body := s.serveInner(r, refs)
	if u != nil {
		s.requests[i].Path, s.requests[i].RawQuery, s.requests[i].Query, s.requests[i].Body = u.Path, u.RawQuery, u.Query(), body
	}
	s.requests[i].Status = rep.status
	if rep.status == http.StatusTooManyRequests {
		s.stats.Throttled++
	}
	return rep
}

// serveInner resolves a request's references and serves it, returning
// the URL and body it was served with.
func (s *Server) serveInner(r *batchRequest, refs map[string]string) (reply, *url.URL, []byte) {
	where := &call{method: r.method, path: strings.TrimPrefix(r.target, APIPath), inBatch: true}
	target, e := s.resolveTarget(where, r.target, refs)
	if e != nil {
		return e.reply(), nil, nil
	}
	body, e := s.resolveBodyRefs(where, r.body, refs)
	if e != nil {
		return e.reply(), nil, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return s.reject(where, docBatch, errQuery("The URL %q of a batch part is not valid.", target)).reply(), nil, nil
	}
	if e := s.charge(1); e != nil {
		return e.reply(), u, body
	}
	c, e := s.newCall(r.method, u, r.header, body, true)
	if e != nil {
		return e.reply(), u, body
	}
	return s.dispatch(c), u, body
}

// resolveTarget turns the URL of a part into a path under the Web API:
// the documented forms are the full URL, the absolute path, a path
// relative to the service root, and $<Content-ID>[/…].
func (s *Server) resolveTarget(c *call, target string, refs map[string]string) (string, *apiError) {
	if strings.HasPrefix(target, "$") {
		id, rest, _ := strings.Cut(target[1:], "/")
		u, ok := refs[id]
		if !ok {
			return "", s.reject(c, docBatch+": a $<Content-ID> refers to an earlier request of the same change set",
				errorf(http.StatusBadRequest, "0x0", "Content-ID Reference: '$%s' does not exist in the batch context.", id))
		}
		if rest != "" {
			u += "/" + rest
		}
		target = u
	}
	switch {
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://"):
		u, err := url.Parse(target)
		if err != nil || u.Host != strings.TrimPrefix(strings.TrimPrefix(s.URL(), "http://"), "https://") {
			return "", s.reject(c, docBatch+": a part's URL is on the same environment", errQuery("The URL %q is not a resource of this service.", target))
		}
		return u.RequestURI(), nil
	case strings.HasPrefix(target, "/"):
		return target, nil
	}
	return APIPath + "/" + target, nil
}

// resolveBodyRefs replaces "$<Content-ID>" in @odata.bind and @odata.id
// values by the URL of the row created by that request.
func (s *Server) resolveBodyRefs(c *call, body []byte, refs map[string]string) ([]byte, *apiError) {
	if !bytes.Contains(body, []byte(`"$`)) {
		return body, nil
	}
	m, err := decodeObject(body)
	if err != nil {
		return body, nil // parseWrite reports it
	}
	var bad *apiError
	resolve := func(v string) string {
		if !strings.HasPrefix(v, "$") {
			return v
		}
		id, rest, _ := strings.Cut(v[1:], "/")
		if _, err := strconv.Atoi(id); err != nil && refs[id] == "" {
			return v // not a reference
		}
		u, ok := refs[id]
		if !ok {
			bad = s.reject(c, docBatch+": a $<Content-ID> refers to an earlier request of the same change set",
				errorf(http.StatusBadRequest, "0x0", "Content-ID Reference: '$%s' does not exist in the batch context.", id))
			return v
		}
		if rest != "" {
			u += "/" + rest
		}
		return u
	}
	for _, k := range sortedKeys(m) {
		if !strings.HasSuffix(k, "@odata.bind") && k != "@odata.id" {
			continue
		}
		switch v := m[k].(type) {
		case string:
			m[k] = resolve(v)
		case []any:
			for i, x := range v {
				if str, ok := x.(string); ok {
					v[i] = resolve(str)
				}
			}
		}
	}
	if bad != nil {
		return nil, bad
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body, nil
	}
	return out, nil
}

// partHeaderOrder is the order, and the spelling, of the headers of an
// answer inside a batch, as the documented responses show them.
var partHeaderOrder = []struct{ key, name string }{
	{"Content-Type", "Content-Type"},
	{"Odata-Version", "OData-Version"},
	{"Location", "Location"},
	{"Odata-Entityid", "OData-EntityId"},
	{"Etag", "ETag"},
	{"Preference-Applied", "Preference-Applied"},
	{"Retry-After", "Retry-After"},
}

// writePart writes one answer as an application/http part: the part
// headers, the status line, the answer's headers, an empty line, the body
// and the CRLF that precedes the next delimiter.
func writePart(b *bytes.Buffer, boundary, contentID string, rep reply) {
	fmt.Fprintf(b, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n", boundary)
	if contentID != "" {
		fmt.Fprintf(b, "Content-ID: %s\r\n", contentID)
	}
	fmt.Fprintf(b, "\r\nHTTP/1.1 %d %s\r\n", rep.status, http.StatusText(rep.status))
	if rep.status >= 400 {
		fmt.Fprintf(b, "REQ_ID: %s\r\n", uuid())
	}
	known := map[string]bool{}
	for _, h := range partHeaderOrder {
		known[h.key] = true
		for _, v := range rep.header[h.key] {
			fmt.Fprintf(b, "%s: %s\r\n", h.name, v)
		}
	}
	var rest []string
	for k := range rep.header {
		if !known[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		for _, v := range rep.header[k] {
			fmt.Fprintf(b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(rep.body)
	b.WriteString("\r\n")
}
