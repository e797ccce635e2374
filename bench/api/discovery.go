package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	for k, v := range c.Header {
		req.Header[k] = v
	}
	resp, err := c.httpClient().Do(req)
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
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, c.clean(msg))
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	return body, nil
}
