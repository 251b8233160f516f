package sdk

// Converters between the SDK's plain Go types and the generated protocol
// types. They are the only code that knows both; everything else speaks one.

import (
	"encoding/json"
	"fmt"
	"sort"

	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var attributeTypes = map[AttributeType]livechatv1.AttributeType{
	String:       livechatv1.AttributeType_ATTRIBUTE_TYPE_STRING,
	Number:       livechatv1.AttributeType_ATTRIBUTE_TYPE_NUMBER,
	Bool:         livechatv1.AttributeType_ATTRIBUTE_TYPE_BOOL,
	ListOfString: livechatv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING,
	MapOfString:  livechatv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING,
	Duration:     livechatv1.AttributeType_ATTRIBUTE_TYPE_DURATION,
}

var authorTypes = map[AuthorType]livechatv1.AuthorType{
	AuthorUser:   livechatv1.AuthorType_AUTHOR_TYPE_USER,
	AuthorBot:    livechatv1.AuthorType_AUTHOR_TYPE_BOT,
	AuthorAgent:  livechatv1.AuthorType_AUTHOR_TYPE_AGENT,
	AuthorSystem: livechatv1.AuthorType_AUTHOR_TYPE_SYSTEM,
}

var endReasons = map[EndReason]livechatv1.EndReason{
	EndUser:    livechatv1.EndReason_END_REASON_USER,
	EndAgent:   livechatv1.EndReason_END_REASON_AGENT,
	EndExpired: livechatv1.EndReason_END_REASON_EXPIRED,
	EndAdmin:   livechatv1.EndReason_END_REASON_ADMIN,
	EndMaxWait: livechatv1.EndReason_END_REASON_MAX_WAIT,
}

var eventTypes = map[EventType]livechatv1.EventType{
	EventAgentMessage:  livechatv1.EventType_EVENT_TYPE_AGENT_MESSAGE,
	EventSessionClosed: livechatv1.EventType_EVENT_TYPE_SESSION_CLOSED,
	EventAgentJoined:   livechatv1.EventType_EVENT_TYPE_AGENT_JOINED,
	EventAgentTyping:   livechatv1.EventType_EVENT_TYPE_AGENT_TYPING,
	EventQueuePosition: livechatv1.EventType_EVENT_TYPE_QUEUE_POSITION,
}

var severities = map[Severity]livechatv1.Severity{
	SeverityError:   livechatv1.Severity_SEVERITY_ERROR,
	SeverityWarning: livechatv1.Severity_SEVERITY_WARNING,
}

// reverse inverts one of the enum maps above.
func reverse[K, V comparable](m map[K]V) map[V]K {
	r := make(map[V]K, len(m))
	for k, v := range m {
		r[v] = k
	}
	return r
}

var (
	attributeTypesFrom = reverse(attributeTypes)
	authorTypesFrom    = reverse(authorTypes)
	endReasonsFrom     = reverse(endReasons)
	eventTypesFrom     = reverse(eventTypes)
	severitiesFrom     = reverse(severities)
)

func infoToProto(i Info) (*livechatv1.InfoResponse, error) {
	out := &livechatv1.InfoResponse{
		Name:         i.Name,
		Version:      i.Version,
		Description:  i.Description,
		ConfigSchema: &livechatv1.ConfigSchema{},
	}
	for _, v := range i.ProtocolVersions {
		out.ProtocolVersions = append(out.ProtocolVersions, uint32(v))
	}
	for _, c := range i.Capabilities {
		out.Capabilities = append(out.Capabilities, string(c))
	}
	if !i.RateLimit.IsZero() {
		out.RateLimit = &livechatv1.RateLimit{Calls: uint32(i.RateLimit.Calls), Per: durationpb.New(i.RateLimit.Per)}
	}
	out.Webhooks = webhooksToProto(i.Webhooks)
	for _, a := range i.Schema.Attributes {
		pa := &livechatv1.Attribute{
			Name:        a.Name,
			Type:        attributeTypes[a.Type],
			Required:    a.Required,
			Sensitive:   a.Sensitive,
			Description: a.Description,
		}
		if a.Default != nil {
			b, err := json.Marshal(a.Default)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: default: %w", a.Name, err)
			}
			pa.DefaultJson = string(b)
		}
		out.ConfigSchema.Attributes = append(out.ConfigSchema.Attributes, pa)
	}
	return out, nil
}

func webhooksToProto(ws []WebhookSetup) []*livechatv1.WebhookSetup {
	var out []*livechatv1.WebhookSetup
	for _, w := range ws {
		out = append(out, &livechatv1.WebhookSetup{
			Name: w.Name, Method: w.Method, Query: w.Query, Headers: w.Headers, Body: w.Body,
			Triggers: w.Triggers, Instructions: w.Instructions, Optional: w.Optional,
		})
	}
	return out
}

func webhooksFromProto(ps []*livechatv1.WebhookSetup) []WebhookSetup {
	var out []WebhookSetup
	for _, w := range ps {
		out = append(out, WebhookSetup{
			Name: w.GetName(), Method: w.GetMethod(), Query: w.GetQuery(), Headers: w.GetHeaders(), Body: w.GetBody(),
			Triggers: w.GetTriggers(), Instructions: w.GetInstructions(), Optional: w.GetOptional(),
		})
	}
	return out
}

func stateKeyToProto(k StateKey) *livechatv1.StateKey {
	return &livechatv1.StateKey{BotId: k.Bot, SessionId: k.SessionID, Key: k.Key}
}

func stateKeyFromProto(p *livechatv1.StateKey) StateKey {
	return StateKey{Bot: p.GetBotId(), SessionID: p.GetSessionId(), Key: p.GetKey()}
}

func infoFromProto(p *livechatv1.InfoResponse) (Info, error) {
	i := Info{
		Name:        p.GetName(),
		Version:     p.GetVersion(),
		Description: p.GetDescription(),
	}
	for _, v := range p.GetProtocolVersions() {
		i.ProtocolVersions = append(i.ProtocolVersions, int(v))
	}
	for _, c := range p.GetCapabilities() {
		i.Capabilities = append(i.Capabilities, Capability(c))
	}
	if rl := p.GetRateLimit(); rl != nil {
		i.RateLimit = RateLimit{Calls: int(rl.GetCalls()), Per: rl.GetPer().AsDuration()}
	}
	i.Webhooks = webhooksFromProto(p.GetWebhooks())
	for _, pa := range p.GetConfigSchema().GetAttributes() {
		t, ok := attributeTypesFrom[pa.GetType()]
		if !ok {
			return Info{}, fmt.Errorf("attribute %q: unknown type %v", pa.GetName(), pa.GetType())
		}
		a := Attribute{
			Name:        pa.GetName(),
			Type:        t,
			Required:    pa.GetRequired(),
			Sensitive:   pa.GetSensitive(),
			Description: pa.GetDescription(),
		}
		if pa.GetDefaultJson() != "" {
			if err := json.Unmarshal([]byte(pa.GetDefaultJson()), &a.Default); err != nil {
				return Info{}, fmt.Errorf("attribute %q: default: %w", a.Name, err)
			}
		}
		i.Schema.Attributes = append(i.Schema.Attributes, a)
	}
	return i, nil
}

func diagnosticsToProto(ds Diagnostics) []*livechatv1.Diagnostic {
	var out []*livechatv1.Diagnostic
	for _, d := range ds {
		out = append(out, &livechatv1.Diagnostic{
			Severity:  severities[d.Severity],
			Summary:   d.Summary,
			Detail:    d.Detail,
			Attribute: d.Attribute,
		})
	}
	return out
}

func diagnosticsFromProto(ps []*livechatv1.Diagnostic) Diagnostics {
	var out Diagnostics
	for _, p := range ps {
		sev, ok := severitiesFrom[p.GetSeverity()]
		if !ok {
			sev = SeverityError
		}
		out = append(out, Diagnostic{
			Severity:  sev,
			Summary:   p.GetSummary(),
			Detail:    p.GetDetail(),
			Attribute: p.GetAttribute(),
		})
	}
	return out
}

func configToJSON(c Config) ([]byte, error) {
	if c == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(c)
}

func configFromJSON(b []byte) (Config, error) {
	c := Config{}
	if len(b) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// structToProto converts a JSON-shaped map. Values that are not JSON-shaped
// (a struct, a channel) are an error rather than silently dropped.
func structToProto(m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return nil, nil
	}
	// Round-trip through JSON so typed values (int, []string, nested maps of
	// concrete types) become the shapes structpb accepts.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return nil, err
	}
	return structpb.NewStruct(plain)
}

func structFromProto(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

func userToProto(u User) (*livechatv1.User, error) {
	md, err := structToProto(u.Metadata)
	if err != nil {
		return nil, fmt.Errorf("user metadata: %w", err)
	}
	return &livechatv1.User{Id: u.ID, ChannelId: u.ChannelID, Metadata: md, Verified: u.Verified}, nil
}

func userFromProto(p *livechatv1.User) User {
	return User{ID: p.GetId(), ChannelID: p.GetChannelId(), Metadata: structFromProto(p.GetMetadata()), Verified: p.GetVerified()}
}

func messageToProto(m Message) (*livechatv1.Message, error) {
	content, err := structToProto(m.Content)
	if err != nil {
		return nil, fmt.Errorf("message %q content: %w", m.ID, err)
	}
	p := &livechatv1.Message{
		Id:          m.ID,
		ContentType: m.ContentType,
		Content:     content,
		Author:      &livechatv1.Author{Type: authorTypes[m.Author.Type], Name: m.Author.Name, Id: m.Author.ID, AvatarUrl: m.Author.AvatarURL},
	}
	if a := m.Attachment; a != nil {
		p.Attachment = &livechatv1.Attachment{Url: a.URL, Name: a.Name, Mime: a.MIME, Size: a.Size}
	}
	if !m.Time.IsZero() {
		p.Time = timestamppb.New(m.Time)
	}
	return p, nil
}

func messageFromProto(p *livechatv1.Message) Message {
	if p == nil {
		return Message{}
	}
	m := Message{
		ID:          p.GetId(),
		ContentType: p.GetContentType(),
		Content:     structFromProto(p.GetContent()),
		Author: Author{
			Type:      authorTypesFrom[p.GetAuthor().GetType()],
			Name:      p.GetAuthor().GetName(),
			ID:        p.GetAuthor().GetId(),
			AvatarURL: p.GetAuthor().GetAvatarUrl(),
		},
	}
	if a := p.GetAttachment(); a != nil {
		m.Attachment = &Attachment{URL: a.GetUrl(), Name: a.GetName(), MIME: a.GetMime(), Size: a.GetSize()}
	}
	if p.Time != nil {
		m.Time = p.Time.AsTime()
	}
	return m
}

func messagesToProto(ms []Message) ([]*livechatv1.Message, error) {
	var out []*livechatv1.Message
	for _, m := range ms {
		p, err := messageToProto(m)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func messagesFromProto(ps []*livechatv1.Message) []Message {
	var out []Message
	for _, p := range ps {
		out = append(out, messageFromProto(p))
	}
	return out
}

func eventToProto(e Event) (*livechatv1.Event, error) {
	p := &livechatv1.Event{
		Id:        e.ID,
		Type:      eventTypes[e.Type],
		SessionId: e.SessionID,
		Ref:       e.Ref,
	}
	if e.QueuePosition > 0 {
		p.QueuePosition = uint32(e.QueuePosition)
	}
	if e.ExpectedWait > 0 {
		p.ExpectedWait = durationpb.New(e.ExpectedWait)
	}
	p.Typing = e.Typing
	if e.Type == EventAgentMessage || e.Type == EventAgentJoined || e.Type == EventAgentTyping {
		m, err := messageToProto(e.Message)
		if err != nil {
			return nil, err
		}
		p.Message = m
	}
	return p, nil
}

// eventsToProto refuses an event without an ID on the plugin's side of the
// wire: the host drops replays by (session, ID), so an event without one
// could be neither deduplicated nor told apart from another.
func eventsToProto(es []Event) ([]*livechatv1.Event, error) {
	var out []*livechatv1.Event
	for i, e := range es {
		if e.ID == "" {
			return nil, fmt.Errorf("event %d of %d (%s, session %q, ref %q): Event.ID is empty; set it to the platform's id of the message or event, unique within the conversation",
				i+1, len(es), e.Type, e.SessionID, e.Ref)
		}
		p, err := eventToProto(e)
		if err != nil {
			return nil, fmt.Errorf("event %q: %w", e.ID, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func eventsFromProto(ps []*livechatv1.Event) []Event {
	var out []Event
	for _, p := range ps {
		e := Event{
			ID:        p.GetId(),
			Type:      eventTypesFrom[p.GetType()],
			SessionID: p.GetSessionId(),
			Ref:       p.GetRef(),
			Typing:    p.GetTyping(),
		}
		e.QueuePosition = int(p.GetQueuePosition())
		if d := p.GetExpectedWait(); d != nil {
			e.ExpectedWait = d.AsDuration()
		}
		if p.Message != nil {
			e.Message = messageFromProto(p.Message)
		}
		out = append(out, e)
	}
	return out
}

func valuesToProto(m map[string][]string) map[string]*livechatv1.Values {
	if m == nil {
		return nil
	}
	out := make(map[string]*livechatv1.Values, len(m))
	for k, vs := range m {
		out[k] = &livechatv1.Values{Values: vs}
	}
	return out
}

func valuesFromProto(m map[string]*livechatv1.Values) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, vs := range m {
		out[k] = vs.GetValues()
	}
	return out
}

func endReasonToProto(r EndReason) livechatv1.EndReason { return endReasons[r] }

func endReasonFromProto(r livechatv1.EndReason) EndReason { return endReasonsFrom[r] }

// sortedKeys is used where a deterministic order matters (logs, errors).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func routingToProto(r Routing) *livechatv1.Routing {
	if r.IsZero() {
		return nil
	}
	return &livechatv1.Routing{Team: r.Team, Priority: r.Priority, Tags: r.Tags, Language: r.Language}
}

func routingFromProto(p *livechatv1.Routing) Routing {
	if p == nil {
		return Routing{}
	}
	return Routing{Team: p.GetTeam(), Priority: p.GetPriority(), Tags: p.GetTags(), Language: p.GetLanguage()}
}
