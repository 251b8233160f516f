package sandbox

import (
	"fmt"
	"html"
	"regexp"
	"strings"
)

// This file holds the account's state: users, customers, tickets, messages
// and tags. Every function here expects mu to be held.

// ---- users

func (s *Sandbox) addUser(u User) *User {
	u.ID = s.id("user")
	if u.Name == "" {
		u.Name = strings.TrimSpace(u.Firstname + " " + u.Lastname)
	}
	if u.Name == "" {
		u.Name = u.Email
	}
	if u.Firstname == "" && u.Lastname == "" {
		u.Firstname, u.Lastname, _ = strings.Cut(u.Name, " ")
	}
	p := &u
	s.users = append(s.users, p)
	return p
}

func (s *Sandbox) userByEmail(email string) *User {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	return nil
}

func (s *Sandbox) userByID(id int64) *User {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// agent finds the agent named (by name or email) who; "" is the default
// agent, and an unknown name becomes a new agent.
func (s *Sandbox) agent(who string) *User {
	who = strings.TrimSpace(who)
	if who == "" {
		return s.users[0]
	}
	for _, u := range s.users {
		if strings.EqualFold(u.Email, who) || strings.EqualFold(u.Name, who) {
			return u
		}
	}
	if strings.Contains(who, "@") {
		return s.addUser(User{Email: who})
	}
	slug := strings.ToLower(strings.Join(strings.Fields(who), "."))
	return s.addUser(User{Name: who, Email: slug + "@acme.com"})
}

func userPerson(u *User) *Person {
	return &Person{ID: u.ID, Email: OptString(u.Email), Name: OptString(u.Name), Firstname: u.Firstname, Lastname: u.Lastname,
		Meta: map[string]any{}}
}

// ---- customers

func (s *Sandbox) customerByID(id int64) *Customer {
	for _, c := range s.customers {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s *Sandbox) customerByEmail(email string) *Customer {
	if email == "" {
		return nil
	}
	for _, c := range s.customers {
		if strings.EqualFold(string(c.Email), email) {
			return c
		}
	}
	return nil
}

func customerPerson(c *Customer) *Person {
	return &Person{ID: c.ID, Email: c.Email, Name: c.Name, Firstname: c.Firstname, Lastname: c.Lastname, Meta: cloneMap(c.Meta)}
}

func (s *Sandbox) newCustomer(email string) *Customer {
	now := s.now()
	c := &Customer{ID: s.id("customer"), Active: true, Email: OptString(email), Meta: map[string]any{},
		Integrations: map[string]any{}, Channels: []CustomerChannel{},
		CreatedDatetime: Time{now.UTC()}, UpdatedDatetime: Time{now.UTC()}}
	if email != "" {
		c.Channels = append(c.Channels, CustomerChannel{ID: s.id("channel"), Type: "email", Address: email, Preferred: true,
			CreatedDatetime: Time{now.UTC()}, UpdatedDatetime: Time{now.UTC()}})
		c.Meta["name_set_via"] = "email"
	}
	s.customers = append(s.customers, c)
	return c
}

// customerInput is a validated body of POST or PUT /api/customers.
type customerInput struct {
	str      map[string]*string // name, firstname, lastname, email, external_id, language, timezone, note
	channels *[]CustomerChannel
	meta     map[string]any
	hasMeta  bool
	data     any
	hasData  bool
}

func parseCustomer(m map[string]any, msg string) (customerInput, error) {
	errs := map[string][]string{}
	f := newFields(m, errs)
	in := customerInput{str: map[string]*string{}}
	for key, max := range map[string]int{"name": 255, "firstname": 255, "lastname": 255, "email": 320,
		"external_id": 255, "language": 0, "timezone": 0, "note": 0} {
		if v, ok := f.str(key, false, max); ok {
			in.str[key] = &v
		}
	}
	if l, ok := f.list("channels", false); ok {
		chans := []CustomerChannel{}
		for _, v := range l {
			cm, isMap := v.(map[string]any)
			if !isMap {
				f.fail("channels", msgNotObject)
				continue
			}
			cf := newFields(cm, errs)
			typ, _ := cf.str("type", true, 0)
			addr, _ := cf.str("address", true, 0)
			pref, _ := cf.boolean("preferred", false)
			chans = append(chans, CustomerChannel{Type: typ, Address: addr, Preferred: pref})
		}
		in.channels = &chans
	}
	if v, ok := f.object("meta", false); ok {
		in.meta, in.hasMeta = v, true
	}
	if v, ok := f.raw("data", false); ok {
		in.data, in.hasData = v, true
	}
	if len(errs) > 0 {
		return in, &ValidationError{Msg: msg, Fields: errs}
	}
	return in, nil
}

// applyCustomer sets c's fields from in; the caller checked the email.
func (s *Sandbox) applyCustomer(c *Customer, in customerInput) {
	now := s.now().UTC()
	for key, v := range in.str {
		switch key {
		case "name":
			c.Name = OptString(*v)
		case "firstname":
			c.Firstname = *v
		case "lastname":
			c.Lastname = *v
		case "email":
			c.Email = OptString(*v)
		case "external_id":
			c.ExternalID = OptString(*v)
		case "language":
			c.Language = OptString(*v)
		case "timezone":
			c.Timezone = OptString(*v)
		case "note":
			c.Note = OptString(*v)
		}
	}
	if in.str["name"] == nil && (in.str["firstname"] != nil || in.str["lastname"] != nil) && c.Name == "" {
		c.Name = OptString(strings.TrimSpace(c.Firstname + " " + c.Lastname))
	}
	if in.channels != nil {
		c.Channels = []CustomerChannel{}
		for _, ch := range *in.channels {
			ch.ID = s.id("channel")
			ch.CreatedDatetime, ch.UpdatedDatetime = Time{now}, Time{now}
			c.Channels = append(c.Channels, ch)
		}
	} else if v := in.str["email"]; v != nil && *v != "" && !hasChannel(c, *v) {
		c.Channels = append(c.Channels, CustomerChannel{ID: s.id("channel"), Type: "email", Address: *v,
			Preferred: len(c.Channels) == 0, CreatedDatetime: Time{now}, UpdatedDatetime: Time{now}})
	}
	if in.hasMeta {
		c.Meta = cloneMap(in.meta)
		if c.Meta == nil {
			c.Meta = map[string]any{}
		}
	}
	if in.hasData {
		c.Data = cloneJSON(in.data)
	}
	c.UpdatedDatetime = Time{now}
}

func hasChannel(c *Customer, addr string) bool {
	for _, ch := range c.Channels {
		if strings.EqualFold(ch.Address, addr) {
			return true
		}
	}
	return false
}

// emailTaken reports whether another customer than self has email.
func (s *Sandbox) emailTaken(email string, self int64) bool {
	c := s.customerByEmail(email)
	return c != nil && c.ID != self
}

// checkCustomerRef says what is wrong with a reference to a customer, "" if
// nothing: an id must exist; an email may be new.
func (s *Sandbox) checkCustomerRef(r ref) string {
	if r.hasID && s.customerByID(r.id) == nil {
		return msgNotFoundID
	}
	if !r.hasID && r.email == "" {
		return msgMissing
	}
	return ""
}

// resolveCustomer finds or creates the referenced customer and applies the
// reference's other fields to it (§1.1). The reference was checked.
func (s *Sandbox) resolveCustomer(r ref) *Customer {
	var c *Customer
	if r.hasID {
		c = s.customerByID(r.id)
	} else {
		c = s.customerByEmail(r.email)
		if c == nil {
			c = s.newCustomer(r.email)
		}
	}
	changed := false
	for k, v := range r.updates {
		switch k {
		case "name":
			if string(c.Name) != v {
				c.Name, changed = OptString(v), true
			}
		case "firstname":
			if c.Firstname != v {
				c.Firstname, changed = v, true
			}
		case "lastname":
			if c.Lastname != v {
				c.Lastname, changed = v, true
			}
		case "external_id":
			if string(c.ExternalID) != v {
				c.ExternalID, changed = OptString(v), true
			}
		}
	}
	if changed {
		c.UpdatedDatetime = Time{s.now().UTC()}
	}
	return c
}

func (s *Sandbox) customerView(c *Customer) *Customer {
	if c == nil {
		return nil
	}
	out := *c
	out.Data = cloneJSON(c.Data)
	out.Meta = cloneMap(c.Meta)
	out.Integrations = cloneMap(c.Integrations)
	out.Channels = append([]CustomerChannel{}, c.Channels...)
	return &out
}

// ---- tickets

func (s *Sandbox) ticketByID(id int64) *ticket {
	for _, t := range s.tickets {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func (s *Sandbox) tagByName(name string) *Tag {
	for _, t := range s.tags {
		if strings.EqualFold(t.Name, name) {
			return t
		}
	}
	t := &Tag{ID: s.id("tag"), Name: name}
	t.URI = fmt.Sprintf("/api/tags/%d/", t.ID)
	s.tags = append(s.tags, t)
	return t
}

func (s *Sandbox) tagByID(id int64) *Tag {
	for _, t := range s.tags {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// parseTags reads [{"name": …} | {"id": …}, …] into names, checking ids.
func (s *Sandbox) parseTags(f *fields, key string) ([]string, bool) {
	l, ok := f.list(key, false)
	if !ok || l == nil {
		return nil, ok
	}
	names := []string{}
	for _, v := range l {
		m, isMap := v.(map[string]any)
		if !isMap {
			f.fail(key, msgNotObject)
			return nil, false
		}
		if n, isStr := m["name"].(string); isStr && strings.TrimSpace(n) != "" {
			names = append(names, strings.TrimSpace(n))
			continue
		}
		id, isInt := asInt(m["id"])
		if !isInt {
			f.fail(key, msgMissing)
			return nil, false
		}
		t := s.tagByID(id)
		if t == nil {
			f.fail(key, msgNotFoundID)
			return nil, false
		}
		names = append(names, t.Name)
	}
	return names, true
}

func (s *Sandbox) setTags(t *ticket, names []string) bool {
	var tags []Tag
	seen := map[string]bool{}
	for _, n := range names {
		tag := s.tagByName(n)
		if !seen[strings.ToLower(tag.Name)] {
			seen[strings.ToLower(tag.Name)] = true
			tags = append(tags, *tag)
		}
	}
	if tags == nil {
		tags = []Tag{}
	}
	if tagNames(t.Tags) == tagNames(tags) {
		return false
	}
	t.Tags = tags
	return true
}

func tagNames(tags []Tag) string {
	var n []string
	for _, t := range tags {
		n = append(n, t.Name)
	}
	return strings.Join(n, "\x00")
}

var priorities = []string{"critical", "high", "normal", "low"}

// assigneeInput is a parsed assignee_user / assignee_team.
type assigneeInput struct {
	user, team       ref
	hasUser, hasTeam bool
}

func (s *Sandbox) parseAssignees(f *fields) assigneeInput {
	var a assigneeInput
	a.user, a.hasUser = parseRef(f, "assignee_user", false)
	if a.hasUser && a.user.hasID && s.userByID(a.user.id) == nil {
		f.fail("assignee_user", msgNotFoundID)
	}
	if a.hasUser && !a.user.hasID && a.user.email != "" {
		if u := s.userByEmail(a.user.email); u != nil {
			a.user.id, a.user.hasID = u.ID, true
		} else {
			f.fail("assignee_user", msgNotFoundID)
		}
	}
	a.team, a.hasTeam = parseRef(f, "assignee_team", false)
	return a
}

// applyAssignees sets the assignees and reports a change.
func (s *Sandbox) applyAssignees(t *ticket, a assigneeInput) bool {
	changed := false
	if a.hasUser {
		old := t.AssigneeUserID
		if a.user.hasID {
			u := s.userByID(a.user.id)
			id := u.ID
			t.AssigneeUser, t.AssigneeUserID = userPerson(u), &id
		} else {
			t.AssigneeUser, t.AssigneeUserID = nil, nil
		}
		changed = changed || !sameID(old, t.AssigneeUserID)
	}
	if a.hasTeam {
		old := t.AssigneeTeamID
		if a.team.hasID {
			id := a.team.id
			t.AssigneeTeam, t.AssigneeTeamID = &Team{ID: id, Name: fmt.Sprintf("Team %d", id)}, &id
		} else {
			t.AssigneeTeam, t.AssigneeTeamID = nil, nil
		}
		changed = changed || !sameID(old, t.AssigneeTeamID)
	}
	return changed
}

func sameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// checkMessageRefs checks a message's sender and receiver without changing
// anything.
func (s *Sandbox) checkMessageRefs(in messageInput, errs map[string][]string) {
	if !in.fromAgent {
		if in.hasSender && in.sender.hasID && s.customerByID(in.sender.id) == nil {
			// Users and customers are apart: an incoming message's sender
			// must be a customer.
			merge(errs, map[string][]string{"sender": {msgNotFoundID}})
		}
		return
	}
	if in.hasSender && in.sender.hasID && s.userByID(in.sender.id) == nil && s.customerByID(in.sender.id) == nil {
		merge(errs, map[string][]string{"sender": {msgNotFoundID}})
	}
	if in.hasRecv && in.receiver.hasID && s.customerByID(in.receiver.id) == nil {
		merge(errs, map[string][]string{"receiver": {msgNotFoundID}})
	}
}

// createTicket carries out POST /api/tickets for account.
func (s *Sandbox) createTicket(body map[string]any, account *User) (*ticket, error) {
	const failMsg = "Failed to create ticket"
	errs := map[string][]string{}
	f := newFields(body, errs)
	var msgs []messageInput
	if l, ok := f.list("messages", true); ok {
		if len(l) < 1 || len(l) > 500 {
			f.fail("messages", "Length must be between 1 and 500.")
		}
		for _, v := range l {
			in, _ := parseMessage(v, errs)
			msgs = append(msgs, in)
		}
	} else if f.has("messages") && body["messages"] == nil {
		f.fail("messages", msgNull)
	}
	custRef, hasCust := parseRef(f, "customer", false)
	externalID, _ := f.str("external_id", false, 255)
	subject, hasSubject := f.str("subject", false, 998)
	channel, hasChannel := f.str("channel", false, 0)
	var via string
	var hasVia bool
	if f.has("via") {
		via, hasVia = f.oneOf("via", false, viaValues...)
	}
	fromAgent, hasFromAgent := f.boolean("from_agent", false)
	status := "open"
	if f.has("status") {
		status, _ = f.oneOf("status", false, "open", "closed")
	}
	priority := "normal"
	if f.has("priority") {
		priority, _ = f.oneOf("priority", false, priorities...)
	}
	assignees := s.parseAssignees(f)
	tags, _ := s.parseTags(f, "tags")
	customFields, _ := f.raw("custom_fields", false)
	meta, _ := f.raw("meta", false)
	language, _ := f.str("language", false, 0)
	spam, _ := f.boolean("spam", false)
	if len(errs) > 0 {
		return nil, &ValidationError{Msg: failMsg, Fields: errs}
	}

	// References: the ticket's customer is the one named, else the first
	// incoming message's sender, else the first outgoing one's receiver.
	for _, m := range msgs {
		s.checkMessageRefs(m, errs)
	}
	if hasCust && custRef.explicit {
		if msg := s.checkCustomerRef(custRef); msg != "" {
			errs["customer"] = []string{msg}
		}
	} else {
		custRef, hasCust = ref{}, false
		for _, m := range msgs {
			if !m.fromAgent && m.hasSender {
				custRef, hasCust = m.sender, true
				break
			}
			if m.fromAgent && m.hasRecv && !m.receiver.empty() {
				custRef, hasCust = m.receiver, true
				break
			}
		}
		if !hasCust {
			errs["customer"] = []string{msgMissing}
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Msg: failMsg, Fields: errs}
	}

	now := s.now().UTC()
	cust := s.resolveCustomer(custRef)
	first := msgs[0]
	t := &ticket{customerID: cust.ID}
	t.ID = s.id("ticket")
	t.URI = fmt.Sprintf("/api/tickets/%d/", t.ID)
	t.ExternalID = OptString(externalID)
	t.Status, t.Priority = status, priority
	t.Channel, t.Via, t.FromAgent = first.channel, first.via, first.fromAgent
	if hasChannel {
		t.Channel = channel
	}
	if hasVia {
		t.Via = via
	}
	if hasFromAgent {
		t.FromAgent = fromAgent
	}
	t.Subject = OptString(first.subject)
	if hasSubject {
		t.Subject = OptString(subject)
	}
	t.Language, t.Spam = OptString(language), spam
	t.Meta, t.CustomFields = cloneJSON(meta), cloneJSON(customFields)
	if t.CustomFields == nil {
		t.CustomFields = []any{}
	}
	t.Tags = []Tag{}
	s.setTags(t, tags)
	s.applyAssignees(t, assignees)
	t.ReplyOptions = map[string]any{t.Channel: map[string]any{"answerable": true}, "internal-note": map[string]any{"answerable": true}}
	t.CreatedDatetime, t.UpdatedDatetime = Time{now}, Time{now}
	if status == "closed" {
		t.ClosedDatetime = timePtr(now)
	}
	s.tickets = append(s.tickets, t)
	s.emit(TriggerTicketCreated, t, nil, nil)
	for _, in := range msgs {
		m := s.newMessage(t, in, account)
		s.emit(TriggerTicketMessageCreated, t, m, nil)
	}
	s.touch()
	return t, nil
}

// addMessage carries out POST /api/tickets/{id}/messages.
func (s *Sandbox) addMessage(t *ticket, body map[string]any, account *User) (*Message, error) {
	const failMsg = "Failed to create message"
	errs := map[string][]string{}
	in, _ := parseMessage(body, errs)
	if len(errs) == 0 {
		s.checkMessageRefs(in, errs)
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Msg: failMsg, Fields: errs}
	}
	m := s.newMessage(t, in, account)
	s.emit(TriggerTicketMessageCreated, t, m, nil)
	if t.Status == "closed" && !m.FromAgent && m.Public {
		// A customer writing again reopens a closed ticket.
		s.setStatus(t, "open", nil)
	}
	s.touch()
	return m, nil
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

func textToHTML(text string) string {
	return "<div>" + strings.ReplaceAll(html.EscapeString(text), "\n", "<br>") + "</div>"
}

func htmlToText(h string) string {
	h = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "\n", "</div>", "\n").Replace(h)
	return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(h, "")))
}

// newMessage stores a validated message on t, resolving its sender and
// receiver; account is who sends outgoing messages that name no sender.
func (s *Sandbox) newMessage(t *ticket, in messageInput, account *User) *Message {
	now := s.now().UTC()
	cust := s.customerByID(t.customerID)
	m := &Message{ID: s.id("message"), TicketID: t.ID, Channel: in.channel, Via: in.via, FromAgent: in.fromAgent,
		ExternalID: OptString(in.externalID), Subject: in.subject, IsRetriable: true}
	m.URI = fmt.Sprintf("/api/tickets/%d/messages/%d/", t.ID, m.ID)
	m.Public = in.channel != "internal-note"
	if in.public != nil {
		m.Public = *in.public
	}
	if !in.fromAgent {
		c := cust
		if in.hasSender && !in.sender.empty() {
			c = s.resolveCustomer(in.sender)
		}
		m.Sender = customerPerson(c)
	} else {
		sender := account
		if in.hasSender && in.sender.hasID {
			if u := s.userByID(in.sender.id); u != nil {
				sender = u
			} else if c := s.customerByID(in.sender.id); c != nil {
				sender = nil
				m.Sender = customerPerson(c)
			}
		} else if in.hasSender && in.sender.email != "" {
			if u := s.userByEmail(in.sender.email); u != nil {
				sender = u
			}
		}
		if sender != nil {
			m.Sender = userPerson(sender)
		}
		if m.Public {
			rc := cust
			if in.hasRecv && !in.receiver.empty() {
				rc = s.resolveCustomer(in.receiver)
			}
			m.Receiver = customerPerson(rc)
		}
	}
	switch {
	case in.hasText && !in.hasHTML:
		m.BodyText, m.BodyHTML = OptString(in.bodyText), OptString(textToHTML(in.bodyText))
	case in.hasHTML && !in.hasText:
		m.BodyText, m.BodyHTML = OptString(htmlToText(in.bodyHTML)), OptString(in.bodyHTML)
	default:
		m.BodyText, m.BodyHTML = OptString(in.bodyText), OptString(in.bodyHTML)
	}
	m.StrippedText, m.StrippedHTML = m.BodyText, m.BodyHTML
	m.Source = in.source
	if m.Source == nil {
		m.Source = defaultSource(m)
	} else {
		m.Source = cloneJSON(m.Source)
	}
	m.Meta, m.Headers, m.Actions = cloneJSON(in.meta), cloneJSON(in.headers), cloneJSON(in.actions)
	m.Attachments = cloneSlice(in.attachments)
	if m.Attachments == nil {
		m.Attachments = []any{}
	}
	m.Macros = cloneSlice(in.macros)
	if m.Macros == nil {
		m.Macros = []any{}
	}
	m.Intents, m.Sentiments = []any{}, []any{}
	m.IntegrationID = in.integrationID
	m.CreatedDatetime = Time{now}
	if in.createdDatetime != nil {
		m.CreatedDatetime = Time{*in.createdDatetime}
	}
	switch {
	case in.sentDatetime != nil:
		m.SentDatetime = &Time{*in.sentDatetime}
	case m.FromAgent:
		// Sending is asynchronous in Gorgias; the sandbox sends at once.
		m.SentDatetime = timePtr(now)
	}
	t.messages = append(t.messages, m)
	t.LastMessageDatetime = &Time{m.CreatedDatetime.Time}
	if !m.FromAgent {
		t.LastReceivedMessageDatetime = &Time{m.CreatedDatetime.Time}
		t.IsUnread = true
	}
	t.UpdatedDatetime = Time{now}
	return m
}

func defaultSource(m *Message) map[string]any {
	addr := func(p *Person) map[string]any {
		if p == nil {
			return nil
		}
		return map[string]any{"name": string(p.Name), "address": string(p.Email)}
	}
	src := map[string]any{"type": m.Channel, "from": addr(m.Sender)}
	if m.Receiver != nil {
		src["to"] = []any{addr(m.Receiver)}
	} else {
		src["to"] = []any{}
	}
	return src
}

// setStatus changes t's status, firing the status events; user is the
// agent who did it (nil: the API).
func (s *Sandbox) setStatus(t *ticket, status string, user *User) bool {
	if t.Status == status {
		return false
	}
	now := s.now().UTC()
	t.Status = status
	t.UpdatedDatetime = Time{now}
	if status == "closed" {
		t.ClosedDatetime = timePtr(now)
	} else {
		t.ClosedDatetime = nil
	}
	s.emit(TriggerTicketStatusUpdated, t, nil, user)
	s.emit(TriggerTicketUpdated, t, nil, user)
	return true
}

// updateTicket carries out PUT /api/tickets/{id}: a partial update.
func (s *Sandbox) updateTicket(t *ticket, body map[string]any) error {
	errs := map[string][]string{}
	f := newFields(body, errs)
	var status string
	hasStatus := f.has("status")
	if hasStatus {
		status, hasStatus = f.oneOf("status", true, "open", "closed")
	}
	var priority string
	hasPriority := f.has("priority")
	if hasPriority {
		priority, hasPriority = f.oneOf("priority", true, priorities...)
	}
	assignees := s.parseAssignees(f)
	tags, hasTags := s.parseTags(f, "tags")
	subject, hasSubject := f.str("subject", false, 998)
	externalID, hasExternalID := f.str("external_id", false, 255)
	language, hasLanguage := f.str("language", false, 0)
	spam, hasSpam := f.boolean("spam", false)
	meta, hasMeta := f.raw("meta", false)
	customFields, hasCustomFields := f.raw("custom_fields", false)
	if len(errs) > 0 {
		return &ValidationError{Msg: "Failed to update ticket", Fields: errs}
	}
	changed := false
	set := func(cond bool, apply func()) {
		if cond {
			apply()
			changed = true
		}
	}
	set(hasPriority && priority != t.Priority, func() { t.Priority = priority })
	set(hasTags && s.setTags(t, tags), func() {})
	set(hasSubject && OptString(subject) != t.Subject, func() { t.Subject = OptString(subject) })
	set(hasExternalID && OptString(externalID) != t.ExternalID, func() { t.ExternalID = OptString(externalID) })
	set(hasLanguage && OptString(language) != t.Language, func() { t.Language = OptString(language) })
	set(hasSpam && spam != t.Spam, func() { t.Spam = spam })
	set(hasMeta, func() { t.Meta = cloneJSON(meta) })
	set(hasCustomFields, func() { t.CustomFields = cloneJSON(customFields) })
	if s.applyAssignees(t, assignees) {
		s.emit(TriggerTicketAssignmentUpdated, t, nil, nil)
		changed = true
	}
	if hasStatus && s.setStatus(t, status, nil) {
		// setStatus fired ticket-updated for everything changed with it.
		changed = false
	}
	if changed {
		t.UpdatedDatetime = Time{s.now().UTC()}
		s.emit(TriggerTicketUpdated, t, nil, nil)
	}
	s.touch()
	return nil
}

func (s *Sandbox) deleteTicket(id int64) bool {
	for i, t := range s.tickets {
		if t.ID == id {
			s.tickets = append(s.tickets[:i], s.tickets[i+1:]...)
			s.touch()
			return true
		}
	}
	return false
}

func messageView(m *Message) Message {
	out := *m
	if m.Sender != nil {
		p := *m.Sender
		p.Meta = cloneMap(p.Meta)
		out.Sender = &p
	}
	if m.Receiver != nil {
		p := *m.Receiver
		p.Meta = cloneMap(p.Meta)
		out.Receiver = &p
	}
	out.Source = cloneJSON(m.Source)
	out.Meta, out.Headers, out.Actions = cloneJSON(m.Meta), cloneJSON(m.Headers), cloneJSON(m.Actions)
	out.Attachments, out.Macros = cloneSlice(m.Attachments), cloneSlice(m.Macros)
	out.Intents, out.Sentiments = cloneSlice(m.Intents), cloneSlice(m.Sentiments)
	if m.SentDatetime != nil {
		v := *m.SentDatetime
		out.SentDatetime = &v
	}
	return out
}

// ticketView copies t for the outside, with its messages when asked.
func (s *Sandbox) ticketView(t *ticket, withMessages bool) Ticket {
	out := t.Ticket
	out.Customer = s.customerView(s.customerByID(t.customerID))
	out.Tags = append([]Tag{}, t.Tags...)
	out.Meta, out.CustomFields = cloneJSON(t.Meta), cloneJSON(t.CustomFields)
	out.ReplyOptions = cloneMap(t.ReplyOptions)
	if t.AssigneeUser != nil {
		p := *t.AssigneeUser
		out.AssigneeUser = &p
	}
	for _, p := range []**Time{&out.ClosedDatetime, &out.LastMessageDatetime, &out.LastReceivedMessageDatetime, &out.OpenedDatetime} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	out.Messages = nil
	if withMessages {
		out.Messages = make([]Message, 0, len(t.messages))
		for _, m := range t.messages {
			out.Messages = append(out.Messages, messageView(m))
		}
	}
	return out
}

func (s *Sandbox) findMessage(id int64) (*ticket, *Message) {
	for _, t := range s.tickets {
		for _, m := range t.messages {
			if m.ID == id {
				return t, m
			}
		}
	}
	return nil, nil
}
