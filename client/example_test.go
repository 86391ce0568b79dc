package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/petrelmq/petrel/client"
	"github.com/petrelmq/petrel/packet"
)

// A client that keeps its session for an hour, so that reconnections
// resume it, subscribes, publishes, and reads what arrives.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{
		Addr:          "localhost:1883",
		ClientID:      "kitchen-display",
		SessionExpiry: 3600,
		AutoReconnect: true,
	})
	if err != nil {
		log.Fatal(err) // such as "server refused the connection: not authorized (reason code 0x87)"
	}
	defer c.Disconnect(ctx, packet.NormalDisconnection)

	codes, err := c.Subscribe(ctx, packet.Subscription{Filter: "sensors/+/temperature", QoS: packet.AtLeastOnce})
	if err != nil || codes[0].IsError() {
		log.Fatal("subscribe: ", err, codes)
	}
	// Publish returns when the server has acknowledged the message.
	err = c.Publish(ctx, &packet.Publish{Topic: "sensors/kitchen/temperature", QoS: packet.AtLeastOnce, Payload: []byte("21.5")})
	if err != nil {
		log.Fatal(err)
	}
	m := <-c.Messages()
	fmt.Printf("%s: %s\n", m.Topic, m.Payload)
}
