package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ServerOpenAI is a server that answers the OpenAI endpoints (/v1/models) but neither Ollama's
// nor llama-server's own: vLLM, LM Studio, LocalAI …
const ServerOpenAI = "openai-compatible"

// LocalPort is where a kind of local server listens by default.
type LocalPort struct {
	Port  int
	Hints string // which servers use it
}

// LocalPorts are the usual ports of local LLM servers. Only loopback is ever asked.
var LocalPorts = []LocalPort{
	{11434, "Ollama"},
	{8080, "llama-server, LocalAI"},
	{1234, "LM Studio"},
	{8000, "vLLM"},
}

// LocalServer is a server found on this machine: where, what it said it is, and the models it
// offers.
type LocalServer struct {
	URL      string
	Identity Identity
	Models   []string
}

// Label says what the server is, for people: "Ollama 0.34.4", "llama-server b1-80fb11a".
func (s LocalServer) Label() string {
	kind := s.Identity.Kind
	switch kind {
	case ServerOllama:
		kind = "Ollama"
	case ServerSimulator:
		kind = "llmload's simulator"
	case "":
		kind = "a server"
	}
	if v := s.Identity.Version; v != "" && kind != "llmload's simulator" {
		return kind + " " + v
	}
	return kind
}

// API is the protocol to speak to it: Ollama's own where it has it, else OpenAI's chat.
func (s LocalServer) API() API {
	switch s.Identity.Kind {
	case ServerOllama, ServerSimulator:
		return OllamaGenerate
	}
	return OpenAIChat
}

// FindLocal asks each port of 127.0.0.1 what answers there and returns the servers that
// identify themselves (Ollama, llama-server, the simulator) or list OpenAI models, in the order
// of ports. A port where nothing listens costs a refused connection; each question is bounded
// by timeout.
func FindLocal(ctx context.Context, ports []int, timeout time.Duration) []LocalServer {
	found := make([]*LocalServer, len(ports))
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			d := net.Dialer{Timeout: timeout}
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return
			}
			conn.Close()
			c := New(Config{BaseURL: "http://" + addr})
			defer c.CloseIdleConnections()
			qctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s := LocalServer{URL: "http://" + addr, Identity: c.Identify(qctx)}
			models, err := c.Models(qctx)
			if err == nil && s.Identity.Kind == "" {
				s.Identity.Kind = ServerOpenAI
			}
			if s.Identity.Kind == "" {
				return
			}
			s.Models = models
			found[i] = &s
		}()
	}
	wg.Wait()
	var out []LocalServer
	for _, s := range found {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// Models lists the models a server offers: Ollama's GET /api/tags, else the OpenAI GET
// /v1/models (llama-server, vLLM, LM Studio), sorted.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	if body, err := c.get(ctx, "/api/tags"); err == nil {
		var tags struct {
			Models []struct {
				Name string `json:"name"`
			} `json:"models"`
		}
		if json.Unmarshal(body, &tags) == nil && tags.Models != nil {
			out := make([]string, 0, len(tags.Models))
			for _, m := range tags.Models {
				out = append(out, m.Name)
			}
			slices.Sort(out)
			return out, nil
		}
	}
	body, err := c.get(ctx, "/v1/models")
	if err != nil {
		return nil, err
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Data == nil {
		return nil, fmt.Errorf("decode /v1/models: not a model list")
	}
	out := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out, nil
}
