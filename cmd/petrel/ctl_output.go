package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// This file is how petrel ctl shows what the admin API answers: tables for
// people, indented objects, JSON.

// column is one column of a table: its heading and how to show an item's
// value.
type column struct {
	head string
	show func(map[string]any) string
}

// field shows an item's field as it is.
func field(head, key string) column {
	return column{head, func(m map[string]any) string { return text(m[key]) }}
}

// text shows a JSON value in a table cell.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.Local().Format("2006-01-02 15:04:05")
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "yes"
		}
		return "no"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// seconds shows a duration in seconds, -1 meaning never.
func seconds(head, key string) column {
	return column{head, func(m map[string]any) string {
		n, ok := m[key].(float64)
		switch {
		case !ok:
			return "-"
		case n < 0:
			return "never"
		}
		return (time.Duration(n) * time.Second).String()
	}}
}

// table prints items in columns, or as JSON.
func (c *ctlClient) table(items []map[string]any, cols ...column) error {
	if c.json {
		if items == nil {
			items = []map[string]any{}
		}
		return c.printJSON(items)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	heads := make([]string, len(cols))
	for i, col := range cols {
		heads[i] = col.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, it := range items {
		cells := make([]string, len(cols))
		for i, col := range cols {
			cells[i] = col.show(it)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// object prints one object as key: value lines, nested objects indented,
// or as JSON.
func (c *ctlClient) object(data []byte) error {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(m)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	writeObject(tw, m, "")
	return tw.Flush()
}

func writeObject(w io.Writer, m map[string]any, indent string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Sorted, so each key is in the same place every time.
	slices.Sort(keys)
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			writeObject(w, v, indent+"  ")
		case []any:
			if len(v) == 0 {
				fmt.Fprintf(w, "%s%s:\t-\n", indent, k)
				continue
			}
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			for _, it := range v {
				if o, ok := it.(map[string]any); ok {
					fmt.Fprintf(w, "%s  -\n", indent)
					writeObject(w, o, indent+"    ")
				} else {
					fmt.Fprintf(w, "%s  - %s\n", indent, text(it))
				}
			}
		default:
			fmt.Fprintf(w, "%s%s:\t%s\n", indent, k, text(v))
		}
	}
}
