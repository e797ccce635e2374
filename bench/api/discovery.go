package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDiscoveryBody bounds what a discovery endpoint may send back.
const maxDiscoveryBody = 1 << 20

// LoadedModel is one model in memory, as Ollama's /api/ps reports it. SizeVRAM < Size means
// part of the model runs on the CPU.
type LoadedModel struct {
	Name          string    `json:"name"`
	Size          int64     `json:"size"`
	SizeVRAM      int64     `json:"size_vram"`
	ContextLength int       `json:"context_length"` // per slot
	ExpiresAt     time.Time `json:"expires_at"`
	ParameterSize string    `json:"parameter_size,omitempty"`
	Quantization  string    `json:"quantization_level,omitempty"`
}

// Version asks GET /api/version. OpenAI-only servers have no such endpoint: they give an error.
func (c *Client) Version(ctx context.Context) (string, error) {
	body, err := c.get(ctx, "/api/version")
	if err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("decode /api/version: %w", err)
	}
	if v.Version == "" {
		return "", fmt.Errorf("decode /api/version: no version in reply")
	}
	return v.Version, nil
}

// Loaded asks GET /api/ps for the models in memory.
func (c *Client) Loaded(ctx context.Context) ([]LoadedModel, error) {
	body, err := c.get(ctx, "/api/ps")
	if err != nil {
		return nil, err
	}
	var ps struct {
		Models []struct {
			Name          string    `json:"name"`
			Size          int64     `json:"size"`
			SizeVRAM      int64     `json:"size_vram"`
			ContextLength int       `json:"context_length"`
			ExpiresAt     time.Time `json:"expires_at"`
			Details       struct {
				ParameterSize     string `json:"parameter_size"`
				QuantizationLevel string `json:"quantization_level"`
			} `json:"details"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, fmt.Errorf("decode /api/ps: %w", err)
	}
	models := make([]LoadedModel, 0, len(ps.Models))
	for _, m := range ps.Models {
		models = append(models, LoadedModel{
			Name:          m.Name,
			Size:          m.Size,
			SizeVRAM:      m.SizeVRAM,
			ContextLength: m.ContextLength,
			ExpiresAt:     m.ExpiresAt,
			ParameterSize: m.Details.ParameterSize,
			Quantization:  m.Details.QuantizationLevel,
		})
	}
	return models, nil
}

// Ping asks GET / and succeeds on any 2xx ("Ollama is running"). Use it to wait for readiness.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.get(ctx, "/")
	return err
}

// get fetches a small document and fails on any non-2xx status.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(path), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, unwrapURL(err))
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := errorText(body)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "" && statusClass(resp.StatusCode) == ClassRedirect {
			msg = c.redirectText(path, loc) // the Client follows none: no header goes elsewhere
		}
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, c.clean(msg))
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	return body, nil
}

// Server kinds that discovery tells apart.
const (
	ServerOllama      = "ollama"
	ServerLlamaServer = "llama-server"
	ServerSimulator   = "llmload-sim"
)

// Identity is what a server says about itself.
type Identity struct {
	// Kind is ServerOllama, ServerLlamaServer or ServerSimulator; empty for a server that
	// answers neither Ollama's nor llama-server's endpoints (vLLM, LM Studio …).
	Kind string
	// Version is as people should read it: Ollama's release ("0.34.4"), "built from source"
	// for an Ollama that reports 0.0.0 (a plain `go install` build), llama-server's build
	// ("b1-80fb11a").
	Version string
	// Engine is what runs the model, when the server says: Ollama 0.30 and later run llama.cpp's
	// llama-server.
	Engine string
	// Props is llama-server's own description (GET /props); nil for other servers.
	Props *LlamaProps
}

// LlamaProps is the part of llama-server's GET /props that llmload uses.
type LlamaProps struct {
	TotalSlots int    `json:"total_slots"`
	ModelPath  string `json:"model_path"`
	ModelAlias string `json:"model_alias"`
	BuildInfo  string `json:"build_info"`
	// SlotContext is default_generation_settings.n_ctx: the context of each slot.
	SlotContext int `json:"-"`
}

// Identify asks the server what it is: Ollama's GET /api/version, else llama-server's GET
// /props. It never fails: what cannot be learned stays empty.
func (c *Client) Identify(ctx context.Context) Identity {
	if v, err := c.Version(ctx); err == nil {
		id := Identity{Kind: ServerOllama, Version: v}
		switch {
		case strings.Contains(v, ServerSimulator):
			id.Kind = ServerSimulator
		case v == "0.0.0":
			id.Version = "built from source"
		case ollamaRunsLlamaServer(v):
			id.Engine = ServerLlamaServer
		}
		return id
	}
	if p, err := c.Props(ctx); err == nil {
		return Identity{Kind: ServerLlamaServer, Version: p.BuildInfo, Engine: ServerLlamaServer, Props: p}
	}
	return Identity{}
}

// ollamaRunsLlamaServer reports whether an Ollama release runs llama-server as its engine
// (0.30 and later).
func ollamaRunsLlamaServer(v string) bool {
	major, rest, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !ok {
		return false
	}
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && (ma > 0 || mi >= 30)
}

// Props asks llama-server's GET /props.
func (c *Client) Props(ctx context.Context) (*LlamaProps, error) {
	body, err := c.get(ctx, "/props")
	if err != nil {
		return nil, err
	}
	var p struct {
		LlamaProps
		Defaults struct {
			NCtx int `json:"n_ctx"`
		} `json:"default_generation_settings"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode /props: %w", err)
	}
	if p.TotalSlots <= 0 {
		return nil, fmt.Errorf("decode /props: no total_slots: not llama-server")
	}
	p.LlamaProps.SlotContext = p.Defaults.NCtx
	return &p.LlamaProps, nil
}
