package tinyllama

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Files written by WriteDir.
const (
	ConfigFile          = "config.json"
	WeightsFile         = "model.safetensors"
	TokenizerFile       = "tokenizer.json"
	TokenizerConfigFile = "tokenizer_config.json"
	ModelfileFile       = "Modelfile"
)

// WriteDir writes the model as a Hugging Face folder that `ollama create NAME -f
// DIR/Modelfile` converts. Existing files of the same names are replaced.
func (m *Model) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	cfg, err := m.configJSON()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tok, err := m.vocab.tokenizerJSON()
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	tokCfg, err := tokenizerConfigJSON(m.Shape.MaxPositions)
	if err != nil {
		return fmt.Errorf("tokenizer config: %w", err)
	}
	// Ollama resolves a relative FROM against the Modelfile's folder.
	modelfile := "FROM .\n"
	for name, body := range map[string][]byte{
		ConfigFile:          append(cfg, '\n'),
		TokenizerFile:       append(tok, '\n'),
		TokenizerConfigFile: append(tokCfg, '\n'),
		ModelfileFile:       []byte(modelfile),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := m.writeSafetensors(filepath.Join(dir, WeightsFile)); err != nil {
		return fmt.Errorf("write %s: %w", WeightsFile, err)
	}
	return nil
}

func (m *Model) configJSON() ([]byte, error) {
	s := m.Shape
	return json.MarshalIndent(map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.FFN,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"vocab_size":              s.Vocab,
		"max_position_embeddings": s.MaxPositions,
		"rope_theta":              s.RopeTheta,
		"rms_norm_eps":            s.RMSNormEps,
		"hidden_act":              "silu",
		"bos_token_id":            bosID,
		"eos_token_id":            eosID,
		"tie_word_embeddings":     false,
		"attention_bias":          false,
		"mlp_bias":                false,
		"torch_dtype":             m.DType.torchName(),
		"use_cache":               true,
	}, "", "  ")
}

// safetensorsHeader renders the JSON header, padded with spaces to a multiple of 8 bytes,
// and returns the data section's size.
func (m *Model) safetensorsHeader() ([]byte, int64, error) {
	var b bytes.Buffer
	meta, err := json.Marshal(map[string]string{
		"format":    "pt",
		"generator": "llmload tinyllama",
		"seed":      strconv.FormatUint(m.Seed, 10),
		"cycle_len": strconv.Itoa(len(m.cycle)),
	})
	if err != nil {
		return nil, 0, err
	}
	b.WriteString(`{"__metadata__":`)
	b.Write(meta)
	var off int64
	for _, t := range m.Tensors() {
		size := t.Elements() * int64(m.DType.size())
		entry, err := json.Marshal(struct {
			DType       DType   `json:"dtype"`
			Shape       []int   `json:"shape"`
			DataOffsets []int64 `json:"data_offsets"`
		}{m.DType, t.Shape, []int64{off, off + size}})
		if err != nil {
			return nil, 0, err
		}
		fmt.Fprintf(&b, ",%q:%s", t.Name, entry)
		off += size
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), off, nil
}

func (m *Model) writeSafetensors(path string) (err error) {
	header, _, err := m.safetensorsHeader()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := binary.Write(w, binary.LittleEndian, uint64(len(header))); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	var data []float32
	var buf []byte
	for _, t := range m.Tensors() {
		n := int(t.Elements())
		if cap(data) < n {
			data = make([]float32, n)
		}
		data = data[:n]
		m.fill(t, data)
		buf = m.encode(buf[:0], data)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}
