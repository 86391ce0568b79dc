package admin

import (
	"encoding/base64"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/petrelmq/petrel/broker"
)

// The API's resources, as JSON. openapi.json describes each one; keep
// them in step (the tests check every response against it).

// seconds is a duration in whole seconds, -1 for broker.NeverExpires.
func seconds(d time.Duration) int64 {
	if d == broker.NeverExpires {
		return -1
	}
	return int64(d / time.Second)
}

// timeOrNil is t, or nil when it is zero, so the field is left out.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

type client struct {
	ClientID         string     `json:"client_id"`
	Username         *string    `json:"username,omitempty"`
	Address          string     `json:"address"`
	Listener         string     `json:"listener"`
	Protocol         string     `json:"protocol"`
	KeepAlive        int64      `json:"keep_alive"`
	ConnectedAt      *time.Time `json:"connected_at,omitempty"`
	SessionExpiry    int64      `json:"session_expiry"`
	Subscriptions    int        `json:"subscriptions"`
	Queued           int        `json:"queued"`
	QueuedBytes      int        `json:"queued_bytes"`
	Inflight         int        `json:"inflight"`
	MessagesReceived uint64     `json:"messages_received"`
	MessagesSent     uint64     `json:"messages_sent"`
	BytesReceived    uint64     `json:"bytes_received"`
	BytesSent        uint64     `json:"bytes_sent"`
	// Filters are the client's subscriptions, in the answer for one
	// client only.
	Filters []subscription `json:"filters,omitempty"`
}

func clientOf(ci broker.ClientInfo) client {
	c := client{
		ClientID:         ci.ClientID,
		Address:          ci.Address,
		Listener:         ci.Listener,
		Protocol:         ci.Version.String(),
		KeepAlive:        seconds(ci.KeepAlive),
		ConnectedAt:      timeOrNil(ci.ConnectedAt),
		SessionExpiry:    seconds(ci.SessionExpiry),
		Subscriptions:    ci.Subscriptions,
		Queued:           ci.Queued,
		QueuedBytes:      ci.QueuedBytes,
		Inflight:         ci.Inflight,
		MessagesReceived: sum(ci.Traffic.Received),
		MessagesSent:     sum(ci.Traffic.Sent),
		BytesReceived:    ci.Traffic.BytesReceived,
		BytesSent:        ci.Traffic.BytesSent,
	}
	if ci.HasUsername {
		c.Username = &ci.Username
	}
	return c
}

func sum(n [3]uint64) uint64 { return n[0] + n[1] + n[2] }

type session struct {
	ClientID      string     `json:"client_id"`
	Online        bool       `json:"online"`
	Protocol      string     `json:"protocol"`
	Expiry        int64      `json:"expiry"`
	OfflineSince  *time.Time `json:"offline_since,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	Subscriptions int        `json:"subscriptions"`
	Queued        int        `json:"queued"`
	QueuedBytes   int        `json:"queued_bytes"`
	Inflight      int        `json:"inflight"`
	WillPending   bool       `json:"will_pending"`
}

func sessionOf(si broker.SessionInfo) session {
	return session{
		ClientID:      si.ClientID,
		Online:        si.Online,
		Protocol:      si.Version.String(),
		Expiry:        seconds(si.Expiry),
		OfflineSince:  timeOrNil(si.OfflineSince),
		ExpiresAt:     timeOrNil(si.ExpiresAt),
		Subscriptions: si.Subscriptions,
		Queued:        si.Queued,
		QueuedBytes:   si.QueuedBytes,
		Inflight:      si.Inflight,
		WillPending:   si.WillPending,
	}
}

type subscription struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	Identifier        uint32 `json:"identifier,omitempty"`
}

func subscriptionOf(s broker.SubscriptionInfo) subscription {
	return subscription{
		ClientID:          s.ClientID,
		Filter:            s.Filter,
		QoS:               byte(s.QoS),
		NoLocal:           s.NoLocal,
		RetainAsPublished: s.RetainAsPublished,
		RetainHandling:    byte(s.RetainHandling),
		Identifier:        s.Identifier,
	}
}

type userProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// message is a retained message; the payload is in the answer for one
// message only.
type message struct {
	Topic           string         `json:"topic"`
	QoS             byte           `json:"qos"`
	PayloadBytes    int            `json:"payload_bytes"`
	Payload         *string        `json:"payload,omitempty"`
	PayloadBase64   *string        `json:"payload_base64,omitempty"`
	ContentType     string         `json:"content_type,omitempty"`
	ResponseTopic   string         `json:"response_topic,omitempty"`
	CorrelationData string         `json:"correlation_data_base64,omitempty"`
	PayloadFormat   *byte          `json:"payload_format_indicator,omitempty"`
	UserProperties  []userProperty `json:"user_properties,omitempty"`
	ExpiresAt       *time.Time     `json:"expires_at,omitempty"`
	Publisher       string         `json:"publisher,omitempty"`
}

func messageOf(m *broker.Message, withPayload bool) message {
	out := message{
		Topic:        m.Topic,
		QoS:          byte(m.QoS),
		PayloadBytes: len(m.Payload),
		ExpiresAt:    timeOrNil(m.Expiry),
		Publisher:    m.Publisher,
	}
	if withPayload {
		b64 := base64.StdEncoding.EncodeToString(m.Payload)
		out.PayloadBase64 = &b64
		if utf8.Valid(m.Payload) {
			text := string(m.Payload)
			out.Payload = &text
		}
	}
	if p := m.Props; p != nil {
		out.ContentType, out.ResponseTopic = p.ContentType, p.ResponseTopic
		if len(p.CorrelationData) > 0 {
			out.CorrelationData = base64.StdEncoding.EncodeToString(p.CorrelationData)
		}
		if p.PayloadFormat != 0 {
			f := p.PayloadFormat
			out.PayloadFormat = &f
		}
		for _, u := range p.User {
			out.UserProperties = append(out.UserProperties, userProperty{Key: u.Key, Value: u.Value})
		}
	}
	return out
}

type ban struct {
	ClientID string     `json:"client_id,omitempty"`
	Username string     `json:"username,omitempty"`
	Network  string     `json:"network,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

func banOf(b broker.Ban) ban {
	out := ban{ClientID: b.ClientID, Username: b.Username, Until: timeOrNil(b.Until), Reason: b.Reason}
	if b.Network.IsValid() {
		out.Network = b.Network.String()
	}
	return out
}

// key identifies a ban in lists: its one target.
func (b ban) key() string { return b.ClientID + "\x00" + b.Username + "\x00" + b.Network }

type histogram struct {
	Count   uint64   `json:"count"`
	Sum     float64  `json:"sum_seconds"`
	Buckets []bucket `json:"buckets"`
}

type bucket struct {
	// Le is the bucket's upper bound in seconds; the last bucket has
	// none.
	Le    *float64 `json:"le,omitempty"`
	Count uint64   `json:"count"`
}

func histogramOf(h broker.Histogram) histogram {
	out := histogram{Count: h.Count(), Sum: h.Sum.Seconds()}
	for i, n := range h.Counts {
		b := bucket{Count: n}
		if i < len(h.Bounds) {
			le := h.Bounds[i].Seconds()
			b.Le = &le
		}
		out.Buckets = append(out.Buckets, b)
	}
	return out
}

type byQoS struct {
	QoS0 uint64 `json:"0"`
	QoS1 uint64 `json:"1"`
	QoS2 uint64 `json:"2"`
}

type drops struct {
	QueueFull    uint64 `json:"queue_full"`
	Offline      uint64 `json:"offline"`
	TooLarge     uint64 `json:"too_large"`
	NoSubscriber uint64 `json:"no_subscriber"`
	MemoryLimit  uint64 `json:"memory_limit"`
	Expired      uint64 `json:"expired"`
}

type stats struct {
	Uptime           int64     `json:"uptime_seconds"`
	Connections      int64     `json:"connections"`
	Accepted         uint64    `json:"connections_accepted"`
	Online           int64     `json:"sessions_online"`
	Sessions         int64     `json:"sessions"`
	Subscriptions    int64     `json:"subscriptions"`
	Retained         int64     `json:"retained_messages"`
	RetainedBytes    int64     `json:"retained_bytes"`
	Queued           int64     `json:"messages_queued"`
	QueuedBytes      int64     `json:"messages_queued_bytes"`
	Inflight         int64     `json:"messages_inflight"`
	MessagesReceived byQoS     `json:"messages_received"`
	MessagesSent     byQoS     `json:"messages_sent"`
	Dropped          drops     `json:"messages_dropped"`
	PacketsReceived  uint64    `json:"packets_received"`
	PacketsSent      uint64    `json:"packets_sent"`
	BytesReceived    uint64    `json:"bytes_received"`
	BytesSent        uint64    `json:"bytes_sent"`
	AuthFailures     uint64    `json:"auth_failures"`
	RefusedBanned    uint64    `json:"connections_refused_banned"`
	RefusedLimit     uint64    `json:"connections_refused_limit"`
	Throttled        uint64    `json:"publish_throttled"`
	StoreRefused     uint64    `json:"store_refused"`
	DeliveryLatency  histogram `json:"delivery_latency"`
	StoreSync        histogram `json:"store_sync"`
}

func statsOf(st broker.Stats) stats {
	d := st.Dropped
	return stats{
		Uptime:           int64(st.Uptime / time.Second),
		Connections:      st.Connections,
		Accepted:         st.Accepted,
		Online:           st.Online,
		Sessions:         st.Sessions,
		Subscriptions:    st.Subscriptions,
		Retained:         st.Retained,
		RetainedBytes:    st.RetainedBytes,
		Queued:           st.Queued,
		QueuedBytes:      st.QueuedBytes,
		Inflight:         st.Inflight,
		MessagesReceived: byQoS{st.Received[0], st.Received[1], st.Received[2]},
		MessagesSent:     byQoS{st.Sent[0], st.Sent[1], st.Sent[2]},
		Dropped: drops{QueueFull: d.QueueFull, Offline: d.Offline, TooLarge: d.TooLarge,
			NoSubscriber: d.NoSubscriber, MemoryLimit: d.MemoryLimit, Expired: d.Expired},
		PacketsReceived: st.PacketsReceived,
		PacketsSent:     st.PacketsSent,
		BytesReceived:   st.BytesReceived,
		BytesSent:       st.BytesSent,
		AuthFailures:    st.AuthFailures,
		RefusedBanned:   st.RefusedBanned,
		RefusedLimit:    st.RefusedLimit,
		Throttled:       st.Throttled,
		StoreRefused:    st.StoreRefused,
		DeliveryLatency: histogramOf(st.DeliveryLatency),
		StoreSync:       histogramOf(st.StoreSync),
	}
}

type limits struct {
	MaxConnections            int     `json:"max_connections"`
	MaxConnectionRate         float64 `json:"max_connection_rate"`
	FlapThreshold             int     `json:"flap_threshold"`
	FlapWindow                int64   `json:"flap_window_seconds"`
	FlapBan                   int64   `json:"flap_ban_seconds"`
	MaxPublishRate            float64 `json:"max_publish_rate"`
	MaxPublishByteRate        float64 `json:"max_publish_bytes_rate"`
	MaxSubscriptionsPerClient int     `json:"max_subscriptions_per_client"`
	MaxTopicLevels            int     `json:"max_topic_levels"`
	MaxRetainedMessages       int     `json:"max_retained_messages"`
	MaxRetainedBytes          int64   `json:"max_retained_bytes"`
	MaxQueuedMemory           int64   `json:"max_queued_memory"`
	AuthFailureDelay          float64 `json:"auth_failure_delay_seconds"`
	AuthFailureLimit          int     `json:"auth_failure_limit"`
}

func limitsOf(l broker.Limits) limits {
	return limits{
		MaxConnections:            l.MaxConnections,
		MaxConnectionRate:         l.MaxConnectionRate,
		FlapThreshold:             l.FlapThreshold,
		FlapWindow:                int64(l.FlapWindow / time.Second),
		FlapBan:                   int64(l.FlapBan / time.Second),
		MaxPublishRate:            l.MaxPublishRate,
		MaxPublishByteRate:        l.MaxPublishByteRate,
		MaxSubscriptionsPerClient: l.MaxSubscriptionsPerClient,
		MaxTopicLevels:            l.MaxTopicLevels,
		MaxRetainedMessages:       l.MaxRetainedMessages,
		MaxRetainedBytes:          l.MaxRetainedBytes,
		MaxQueuedMemory:           l.MaxQueuedMemory,
		AuthFailureDelay:          max(l.AuthFailureDelay, 0).Seconds(),
		AuthFailureLimit:          max(l.AuthFailureLimit, 0),
	}
}

// publishRequest is what POST /api/v1/publish takes.
type publishRequest struct {
	Topic           *string        `json:"topic"`
	Payload         *string        `json:"payload"`
	PayloadBase64   *string        `json:"payload_base64"`
	QoS             byte           `json:"qos"`
	Retain          bool           `json:"retain"`
	ContentType     string         `json:"content_type"`
	ResponseTopic   string         `json:"response_topic"`
	CorrelationData string         `json:"correlation_data_base64"`
	PayloadFormat   *byte          `json:"payload_format_indicator"`
	MessageExpiry   *uint32        `json:"message_expiry_seconds"`
	UserProperties  []userProperty `json:"user_properties"`
}

// banRequest is what POST /api/v1/bans takes.
type banRequest struct {
	ClientID string     `json:"client_id"`
	Username string     `json:"username"`
	Network  string     `json:"network"`
	Until    *time.Time `json:"until"`
	Duration string     `json:"duration"`
	Reason   string     `json:"reason"`
}

// parseNetwork reads an address or a network in CIDR notation.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
