package crm

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
)

// A Dataverse service-endpoint webhook posts the plug-in execution context
// (Microsoft.Xrm.Sdk.RemoteExecutionContext) as JSON: collections are
// lists of {key, value}, and typed values carry their fields (an option
// set's Value, a lookup's Id, LogicalName and Name).
type remoteContext struct {
	MessageName       string
	PrimaryEntityName string
	PrimaryEntityID   string `json:"PrimaryEntityId"`
	InputParameters   []keyValue
	PostEntityImages  []keyValue
}

type keyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type remoteEntity struct {
	LogicalName     string
	ID              string `json:"Id"`
	Attributes      []keyValue
	FormattedValues []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
}

// Receive takes in a Dataverse webhook for a connector: it checks the key
// Dataverse was registered with (sent as the x-parley-key header or the
// code query parameter) and applies the change like a tracked one. Tables
// the connector does not list are ignored.
func (s *Service) Receive(ctx context.Context, connectorID, key string, body []byte) error {
	c, err := s.DB.FindConnectorByID(ctx, connectorID)
	if err != nil || c.Dataverse == nil || c.Dataverse.WebhookKey == "" ||
		subtle.ConstantTimeCompare([]byte(key), []byte(c.Dataverse.WebhookKey)) != 1 {
		// An unknown connector and a wrong key look the same to a caller.
		return parley.Errorf(parley.EUNAUTHORIZED, "The webhook key is missing or wrong.")
	}
	table, ch, err := ParseWebhook(body)
	if err != nil {
		return err
	}
	t, ok := c.Table(table)
	if !ok {
		return nil
	}
	return s.Apply(ctx, c, t, ch)
}

// ParseWebhook reads a RemoteExecutionContext: the table it is about and
// the change, as the columns the message set (Create, Update) or the
// record removed (Delete). Values are taken as people read them: the
// formatted value when Dataverse sends one, a lookup's name.
func ParseWebhook(body []byte) (string, Changes, error) {
	var rc remoteContext
	if err := json.Unmarshal(body, &rc); err != nil {
		return "", Changes{}, parley.Errorf(parley.EINVALID, "The body is not a Dataverse execution context: %v", err)
	}
	table := strings.ToLower(rc.PrimaryEntityName)
	if table == "" || rc.PrimaryEntityID == "" {
		return "", Changes{}, parley.Errorf(parley.EINVALID, "The execution context names no PrimaryEntityName and PrimaryEntityId.")
	}
	if strings.EqualFold(rc.MessageName, "Delete") {
		return table, Changes{Deleted: []string{rc.PrimaryEntityID}}, nil
	}
	row := Row{ID: rc.PrimaryEntityID, Values: map[string]string{}}
	// The post image, when registered, holds the whole record; the
	// target only the columns set, which win.
	entities := rc.PostEntityImages
	for _, p := range rc.InputParameters {
		if p.Key == "Target" {
			entities = append(entities, p)
		}
	}
	for _, p := range entities {
		var e remoteEntity
		if json.Unmarshal(p.Value, &e) != nil || e.LogicalName == "" {
			continue
		}
		for _, a := range e.Attributes {
			v, err := attributeValue(a.Value)
			if err != nil {
				return "", Changes{}, parley.Errorf(parley.EINVALID, "The column %s has a value Parley cannot read: %v", a.Key, err)
			}
			row.Values[a.Key] = v
			row.Values["_"+a.Key+"_value"] = v // lookups are selected as _x_value in the Web API
		}
		for _, f := range e.FormattedValues {
			row.Values[f.Key] = f.Value
			row.Values["_"+f.Key+"_value"] = f.Value
		}
	}
	return table, Changes{Rows: []Row{row}}, nil
}

// attributeValue reads one attribute value: a string, number or boolean as
// it is, an option set or money by its Value, a lookup by its Name.
func attributeValue(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case map[string]any:
		if n, ok := x["Name"].(string); ok && n != "" {
			return n, nil
		}
		if id, ok := x["Id"].(string); ok {
			return id, nil
		}
		if val, ok := x["Value"]; ok {
			return fmt.Sprint(val), nil
		}
	}
	return "", fmt.Errorf("unexpected %T", v)
}
