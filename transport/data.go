package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/gorilla/mux"
)

// List limits.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// reservedParams are list query parameters that are not equality filters.
var reservedParams = map[string]bool{"filter": true, "sort": true, "limit": true, "cursor": true, "fields": true,
	"page": true, "count": true, "populate": true, "expand": true, "meta": true, "key": true, "apikey": true}

// access returns what the domain rules need to know about the caller.
func access(c *Caller) domain.Access {
	return domain.Access{Privileged: c.Privileged(), UserID: c.UserID}
}

// dataCaller applies the access mode on top of the resolved caller: an app
// in authenticated mode refuses data requests with neither a user token nor
// the secret key.
func dataCaller(r *http.Request) (*Caller, error) {
	c := callerFrom(r.Context())
	if c.App.AccessMode == domain.AccessAuthenticated && c.UserID == "" && !c.Privileged() {
		return nil, &domain.AccessError{Status: http.StatusUnauthorized, Title: "Authentication required",
			Detail: "This app is in authenticated mode: send a user access token or the secret key."}
	}
	return c, nil
}

func collectionParam(r *http.Request) (string, error) {
	name := mux.Vars(r)["collection"]
	if strings.EqualFold(name, "users") {
		return "", domain.ErrUsersCollection
	}
	if err := domain.ValidateCollectionName(name); err != nil {
		return "", err
	}
	return name, nil
}

// docIDParam returns the id from the path; ids of the wrong shape are 404.
func docIDParam(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !domain.ValidDocID(id) {
		return "", errDocNotFound
	}
	return id, nil
}

var errDocNotFound = errf(http.StatusNotFound, "document_not_found", "Document not found.")

func notFoundDoc(err error) error {
	if errors.Is(err, domain.ErrNotFound) {
		return errDocNotFound
	}
	return err
}

// decodeDocBody reads a JSON object body for a document.
func (a *API) decodeDocBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	var raw json.RawMessage
	if err := a.decodeJSON(w, r, &raw); err != nil {
		return nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || body == nil {
		return nil, errf(http.StatusBadRequest, "invalid_body", "Request body must be a JSON object")
	}
	return body, nil
}

func ifMatch(r *http.Request) (int64, error) {
	v := strings.Trim(strings.TrimSpace(r.Header.Get("If-Match")), `"`)
	if v == "" || v == "*" {
		return commands.NoIfMatch, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(v, "W/"), 10, 64)
	if err != nil || n < 1 {
		return 0, errf(http.StatusBadRequest, "invalid_if_match", "If-Match must be a document _version")
	}
	return n, nil
}

// handle adapts a handler that returns its error.
func handle(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, err)
		}
	}
}

// docTarget is what a Data API request is about.
type docTarget struct {
	caller     *Caller
	collection string
	id         string // "" on collection routes
	ifMatch    int64  // commands.NoIfMatch when absent
}

// target checks the caller against the access mode and reads the
// collection and, on document routes, the id and If-Match.
func target(r *http.Request, withID bool) (docTarget, error) {
	var t docTarget
	var err error
	if t.caller, err = dataCaller(r); err != nil {
		return t, err
	}
	if t.collection, err = collectionParam(r); err != nil {
		return t, err
	}
	t.ifMatch = commands.NoIfMatch
	if withID {
		if t.id, err = docIDParam(r); err != nil {
			return t, err
		}
		if t.ifMatch, err = ifMatch(r); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (a *API) listDocuments(w http.ResponseWriter, r *http.Request) error {
	t, err := target(r, false)
	if err != nil {
		return err
	}
	c, name, ctx := t.caller, t.collection, r.Context()
	coll, err := a.readableCollection(ctx, c.App.ID, name)
	if err != nil {
		return err
	}
	scope, err := coll.ReadScope(access(c))
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	f, err := parseListQuery(qs, coll, isUrBackend(r))
	if err != nil {
		return err
	}
	if isUrBackend(r) && qs.Get("count") == "true" {
		n, err := a.docs.Count(ctx, c.App.ID, name, scope, f.Filter)
		if err != nil {
			return err
		}
		writeOK(w, r, http.StatusOK, map[string]any{"count": n}, "Count fetched successfully.")
		return nil
	}
	limit := f.Limit
	f.Limit = limit + 1
	// The cursor is built from the last document's sort values, so a
	// projection must not drop them: with a sort, fetch whole documents and
	// project afterwards.
	fields := f.Fields
	if len(fields) > 0 && len(f.Sort) > 0 {
		f.Fields = nil
	}
	docs, err := a.docs.List(ctx, c.App.ID, name, scope, f)
	if err != nil {
		return err
	}
	var next any
	if len(docs) > limit {
		docs = docs[:limit]
		next = query.EncodeCursor(f.Sort, docs[limit-1])
	}
	if len(fields) > 0 && f.Fields == nil {
		for i, d := range docs {
			docs[i] = query.Project(d, fields)
		}
	}
	if docs == nil {
		docs = []readstore.Doc{}
	}
	if isUrBackend(r) {
		writeOK(w, r, http.StatusOK, map[string]any{"items": docs, "limit": limit, "nextCursor": next}, "Data fetched successfully")
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": docs, "next_cursor": next})
	return nil
}

// parseListQuery turns list query parameters into a Find: filter (JSON),
// plain field=value equality (and urBackend's field_gt=… suffixes), sort,
// limit, cursor and fields.
func parseListQuery(qs map[string][]string, coll *domain.Collection, urb bool) (readstore.Find, error) {
	get := func(k string) string {
		if v := qs[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var f readstore.Find
	var parts []query.Expr
	if raw := get("filter"); raw != "" {
		e, err := query.Parse(json.RawMessage(raw))
		if err != nil {
			return f, err
		}
		parts = append(parts, e)
	}
	for k, vs := range qs {
		if reservedParams[k] || len(vs) == 0 {
			continue
		}
		e, err := paramFilter(k, vs, coll, urb)
		if err != nil {
			return f, err
		}
		parts = append(parts, e)
	}
	var err error
	if s := get("sort"); s != "" {
		if f.Sort, err = query.ParseSort(s); err != nil {
			return f, err
		}
	}
	f.Limit = defaultLimit
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, errf(http.StatusBadRequest, "invalid_query", "limit must be a positive integer")
		}
		f.Limit = min(n, maxLimit)
	}
	if s := get("cursor"); s != "" {
		last, err := query.DecodeCursor(f.Sort, s)
		if err != nil {
			return f, err
		}
		parts = append(parts, query.After(f.Sort, last))
	}
	if f.Fields, err = query.ParseFields(get("fields")); err != nil {
		return f, err
	}
	f.Filter = query.AllOf(parts...)
	return f, nil
}

// urBackend's filter suffixes, tested in its order.
var suffixOps = []struct{ suffix, op string }{
	{"_gte", "$gte"}, {"_gt", "$gt"}, {"_lte", "$lte"}, {"_lt", "$lt"}, {"_ne", "$ne"}, {"_in", "$in"}, {"_exists", "$exists"}, {"_regex", "$regex"},
}

func paramFilter(key string, vs []string, coll *domain.Collection, urb bool) (query.Expr, error) {
	field, op := key, "$eq"
	if urb {
		for _, s := range suffixOps {
			if strings.HasSuffix(key, s.suffix) && len(key) > len(s.suffix) {
				field, op = strings.TrimSuffix(key, s.suffix), s.op
				break
			}
		}
	}
	typ := ""
	if fd, ok := coll.Field(field); ok {
		typ = fd.Type
	}
	var cond any
	switch op {
	case "$in":
		var vals []any
		for _, v := range vs {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					vals = append(vals, castParam(p, typ)...)
				}
			}
		}
		cond = map[string]any{"$in": vals}
	case "$exists":
		switch vs[0] {
		case "true":
			cond = map[string]any{"$exists": true}
		case "false":
			cond = map[string]any{"$exists": false}
		default:
			return nil, errf(http.StatusBadRequest, "invalid_query", `Invalid value for "`+key+`"; expected "true" or "false".`)
		}
	case "$regex":
		if len(vs[0]) > 128 {
			return nil, errf(http.StatusBadRequest, "invalid_query", `Regex pattern for "`+key+`" exceeds 128 characters.`)
		}
		cond = map[string]any{"$regex": vs[0], "$options": "i"}
	case "$eq":
		vals := castParam(vs[0], typ)
		if len(vals) == 1 {
			cond = vals[0]
		} else {
			cond = map[string]any{"$in": vals}
		}
	default:
		vals := castParam(vs[0], typ)
		cond = map[string]any{op: vals[len(vals)-1]}
	}
	return query.ParseMap(map[string]any{field: cond})
}

// castParam reads a query-string value as the field's declared type; for an
// undeclared field it matches the string and, where the text is a number or
// boolean literal, that value too.
func castParam(v, typ string) []any {
	switch typ {
	case "number", "integer":
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return []any{n}
		}
	case "boolean":
		if b, err := strconv.ParseBool(v); err == nil {
			return []any{b}
		}
	case "":
		if v == "true" || v == "false" {
			return []any{v, v == "true"}
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return []any{v, n}
		}
	}
	return []any{v}
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) error {
	t, err := target(r, true)
	if err != nil {
		return err
	}
	c, name, id, ctx := t.caller, t.collection, t.id, r.Context()
	if at := r.URL.Query().Get("at"); at != "" {
		return a.documentAt(w, r, c, name, id, at)
	}
	coll, err := a.readableCollection(ctx, c.App.ID, name)
	if err != nil {
		return err
	}
	scope, err := coll.ReadScope(access(c))
	if err != nil {
		return err
	}
	doc, err := a.docs.Get(ctx, c.App.ID, name, id, scope)
	if err != nil {
		return notFoundDoc(err)
	}
	fields, err := query.ParseFields(r.URL.Query().Get("fields"))
	if err != nil {
		return err
	}
	if fields != nil {
		doc = query.Project(doc, fields)
	}
	writeOK(w, r, http.StatusOK, doc, "Document fetched successfully")
	return nil
}

// readableCollection loads a collection for a read; one never defined nor
// written is 404, as in urBackend.
func (a *API) readableCollection(ctx context.Context, appID, name string) (*domain.Collection, error) {
	c, err := a.cmd.Collection(ctx, appID, name)
	if err != nil {
		return nil, err
	}
	if !c.Exists() {
		return nil, domain.ErrCollectionNotFound
	}
	return c, nil
}

// documentAt serves a document as it was at a time, from its stream.
func (a *API) documentAt(w http.ResponseWriter, r *http.Request, c *Caller, coll, id, at string) error {
	if !c.Privileged() {
		return errSecretRequired
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return errf(http.StatusBadRequest, "invalid_query", "at must be an RFC 3339 time")
	}
	_, evs, err := a.cmd.LoadDocument(r.Context(), c.App.ID, coll, id)
	if err != nil {
		return err
	}
	d := &domain.Document{Collection: coll, ID: id}
	for _, e := range evs {
		if e.Time.After(t) {
			break
		}
		if err := d.Apply(e.Type, e.Payload); err != nil {
			return err
		}
	}
	if !d.Exists() {
		return errDocNotFound
	}
	writeOK(w, r, http.StatusOK, d.Doc, "Document fetched successfully")
	return nil
}

func (a *API) documentHistory(w http.ResponseWriter, r *http.Request) error {
	c := callerFrom(r.Context())
	if !c.Privileged() {
		return errSecretRequired
	}
	t, err := target(r, true)
	if err != nil {
		return err
	}
	_, evs, err := a.cmd.LoadDocument(r.Context(), c.App.ID, t.collection, t.id)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return errDocNotFound
	}
	out := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		var p domain.DocumentPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		item := map[string]any{"version": e.Version, "type": e.Type, "time": e.Time, "actor": e.Actor, "position": e.Position, "doc": p.Doc}
		if e.Type == domain.EventDocumentDeleted {
			item["doc"] = nil
		}
		if p.Changes != nil {
			item["changes"] = p.Changes
			item["op"] = p.Op
		}
		out = append(out, item)
	}
	writeOK(w, r, http.StatusOK, out, "History fetched successfully")
	return nil
}

func (a *API) createDocument(w http.ResponseWriter, r *http.Request) error {
	t, err := target(r, false)
	if err != nil {
		return err
	}
	body, err := a.decodeDocBody(w, r)
	if err != nil {
		return err
	}
	doc, err := a.cmd.CreateDocument(r.Context(), meta(r), t.caller.App.ID, t.collection, access(t.caller), body)
	if err != nil {
		return err
	}
	writeOK(w, r, http.StatusCreated, doc, "Document created successfully")
	return nil
}

func (a *API) updateDocument(replace bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := target(r, true)
		if err != nil {
			return err
		}
		body, err := a.decodeDocBody(w, r)
		if err != nil {
			return err
		}
		doc, err := a.cmd.UpdateDocument(r.Context(), meta(r), t.caller.App.ID, t.collection, t.id, access(t.caller), body, replace, t.ifMatch)
		if err != nil {
			return notFoundDoc(err)
		}
		writeOK(w, r, http.StatusOK, doc, "Document updated successfully")
		return nil
	}
}

func (a *API) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	t, err := target(r, true)
	if err != nil {
		return err
	}
	if err := a.cmd.DeleteDocument(r.Context(), meta(r), t.caller.App.ID, t.collection, t.id, access(t.caller), t.ifMatch); err != nil {
		return notFoundDoc(err)
	}
	writeOK(w, r, http.StatusOK, map[string]any{"_id": t.id, "deleted": true}, "Document deleted")
	return nil
}

// defineCollection serves PUT /v1/{app_id}/config/collections/{name}.
func (a *API) defineCollection(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Fields []domain.Field `json:"fields"`
		RLS    *struct {
			Enabled         bool   `json:"enabled"`
			Mode            string `json:"mode"`
			OwnerField      string `json:"owner_field"`
			OwnerFieldCamel string `json:"ownerField"`
			PublicReadField string `json:"public_read_field"`
		} `json:"rls"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	var rls *domain.RLS
	if body.RLS != nil {
		owner := body.RLS.OwnerField
		if owner == "" {
			owner = body.RLS.OwnerFieldCamel
		}
		rls = &domain.RLS{Enabled: body.RLS.Enabled, Mode: body.RLS.Mode, OwnerField: owner, PublicReadField: body.RLS.PublicReadField}
	}
	fields := body.Fields
	if fields == nil {
		fields = []domain.Field{}
	}
	c, err := a.cmd.DefineCollection(r.Context(), meta(r), callerFrom(r.Context()).App.ID, mux.Vars(r)["name"], fields, rls)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, collectionView(c))
}

func collectionView(c *domain.Collection) map[string]any {
	return map[string]any{"name": c.Name, "fields": c.Fields, "rls": c.RLS}
}

func (a *API) listCollections(w http.ResponseWriter, r *http.Request) {
	cs, err := a.docs.Collections(r.Context(), callerFrom(r.Context()).App.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(cs))
	for i := range cs {
		out = append(out, collectionView(&cs[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// secure serves POST /v1/{app_id}/secure (Butterbase): authenticated access
// mode plus private RLS on each listed collection.
func (a *API) secure(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tables []struct {
			TableName        string `json:"table_name"`
			UserColumn       string `json:"user_column"`
			PublicReadColumn string `json:"public_read_column"`
		} `json:"tables"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	appID := callerFrom(ctx).App.ID
	app, err := a.cmd.SetAccessMode(ctx, meta(r), appID, domain.AccessAuthenticated)
	if err != nil {
		writeError(w, r, err)
		return
	}
	secured := []string{}
	tableErrors := []map[string]any{}
	for _, t := range body.Tables {
		if err := a.secureTable(ctx, meta(r), appID, t.TableName, t.UserColumn, t.PublicReadColumn); err != nil {
			tableErrors = append(tableErrors, map[string]any{"table_name": t.TableName, "error": toAPIError(err).Message})
			continue
		}
		secured = append(secured, t.TableName)
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_mode": app.AccessMode, "tables_secured": secured, "table_errors": tableErrors})
}

func (a *API) secureTable(ctx context.Context, m commands.Meta, appID, table, userCol, publicCol string) error {
	if err := domain.ValidateCollectionName(table); err != nil {
		return err
	}
	c, err := a.cmd.LoadCollection(ctx, appID, table)
	if err != nil {
		return err
	}
	if !c.Exists() {
		return errf(http.StatusNotFound, "collection_not_found", "Collection '"+table+"' not found")
	}
	if userCol == "" {
		return errf(http.StatusBadRequest, "invalid_body", "user_column is required")
	}
	for _, col := range []string{userCol, publicCol} {
		if col == "" || len(c.Fields) == 0 {
			continue
		}
		if _, ok := c.Field(col); !ok {
			return errf(http.StatusBadRequest, "field_not_found", "Field '"+col+"' not found in collection '"+table+"'")
		}
	}
	_, err = a.cmd.DefineCollection(ctx, m, appID, table, nil, &domain.RLS{Enabled: true, Mode: domain.RLSPrivate, OwnerField: userCol, PublicReadField: publicCol})
	return err
}
