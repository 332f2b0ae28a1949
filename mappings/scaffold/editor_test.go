package scaffold

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors/conformance"
)

// TestEditorChecksAnInitProject runs the YAML language server that editors
// use (VS Code's YAML extension, Neovim, Helix; pinned in the npm project
// of conformance.ServersDir) over a project coupler init wrote, as an
// editor drives it over LSP: each kind of file, opened with one key
// misspelled, must get exactly that diagnostic (so its schema loaded from
// the project, offline, and the rest of the bundled file is valid for it),
// and completion must offer the key meant.
func TestEditorChecksAnInitProject(t *testing.T) {
	node, server := conformance.NodeModule(t, "yaml-language-server")
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Set: "bc-dataverse"}); err != nil {
		t.Fatal(err)
	}
	c := startLSP(t, exec.Command(node, filepath.Join(server, "bin", "yaml-language-server"), "--stdio"))
	c.call(t, "initialize", map[string]any{
		"processId": os.Getpid(),
		"rootUri":   fileURI(dir),
		"capabilities": map[string]any{
			"textDocument": map[string]any{
				"completion":         map[string]any{"completionItem": map[string]any{"snippetSupport": false}},
				"publishDiagnostics": map[string]any{},
			},
		},
	})
	c.notify(t, "initialized", map[string]any{})
	// The schema store would be fetched from the network: off, as the
	// test is about the project's own schemas.
	c.notify(t, "workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"yaml": map[string]any{
		"validate": true, "completion": true, "hover": true,
		"schemaStore": map[string]any{"enable": false},
	}}})

	tests := []struct {
		file, key, typo string
		// complete asks for completion at the typo's first character.
		complete bool
	}{
		{file: "mappings/customer.yaml", key: "integration_field: address1_city", typo: "integration_feld: address1_city", complete: true},
		{file: "coupler.yaml", key: "page_size: 5000", typo: "page_sise: 5000"},
		{file: "mappings/customer.test.yaml", key: "    input:", typo: "    inptu:"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), tt.key) {
				t.Fatalf("%s holds no %q to misspell", tt.file, tt.key)
			}
			text := strings.Replace(string(src), tt.key, tt.typo, 1)
			typo := strings.TrimSpace(tt.typo)
			name, _, _ := strings.Cut(typo, ":")
			line := strings.Count(text[:strings.Index(text, tt.typo)], "\n")
			uri := fileURI(filepath.Join(dir, filepath.FromSlash(tt.file)))
			c.notify(t, "textDocument/didOpen", map[string]any{"textDocument": map[string]any{
				"uri": uri, "languageId": "yaml", "version": 1, "text": text,
			}})
			want := fmt.Sprintf("%d: Property %s is not allowed.", line+1, name)
			got := c.diagnostics(t, uri, want)
			if len(got) != 1 || got[0] != want {
				t.Errorf("diagnostics of %s with %q for %q:\n%s\nwant only:\n%s", tt.file, tt.typo, tt.key, strings.Join(got, "\n"), want)
			}
			if !tt.complete {
				return
			}
			lines := strings.Split(text, "\n")
			char := strings.Index(lines[line], name)
			labels := c.completion(t, uri, line, char)
			meant, _, _ := strings.Cut(strings.TrimSpace(tt.key), ":")
			if !slices.Contains(labels, meant) {
				t.Errorf("completion at %s:%d:%d offers %q, want %q among them", tt.file, line+1, char+1, labels, meant)
			}
		})
	}
}

func fileURI(path string) string {
	return "file://" + filepath.ToSlash(path)
}

// lspClient speaks the Language Server Protocol to a server on its
// standard input and output: JSON-RPC 2.0 messages, each after a
// Content-Length header.
type lspClient struct {
	in     io.Writer
	msgs   chan lspMessage
	nextID int
	// published holds each textDocument/publishDiagnostics by URI, in
	// order, as the messages arrive.
	published map[string][][]string
}

type lspMessage struct {
	ID     *json.RawMessage `json:"id,omitempty"`
	Method string           `json:"method,omitempty"`
	Params json.RawMessage  `json:"params,omitempty"`
	Result json.RawMessage  `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// lspTimeout bounds each wait for the server; the first diagnostics wait
// for node to start and load the schema.
const lspTimeout = 60 * time.Second

func startLSP(t *testing.T, cmd *exec.Cmd) *lspClient {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	c := &lspClient{in: in, msgs: make(chan lspMessage, 64), published: map[string][][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.msgs)
		r := bufio.NewReader(out)
		for {
			body, err := readLSPMessage(r)
			if err != nil {
				return
			}
			var m lspMessage
			if json.Unmarshal(body, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("yaml-language-server stderr:\n%s", stderr.String())
		}
	})
	return c
}

func readLSPMessage(r *bufio.Reader) ([]byte, error) {
	length := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length:"); ok {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return nil, err
			}
		}
	}
	if length < 0 {
		return nil, fmt.Errorf("a message without Content-Length")
	}
	body := make([]byte, length)
	_, err := io.ReadFull(r, body)
	return body, err
}

func (c *lspClient) send(t *testing.T, m map[string]any) {
	t.Helper()
	m["jsonrpc"] = "2.0"
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatalf("write to the language server: %v", err)
	}
}

func (c *lspClient) notify(t *testing.T, method string, params any) {
	t.Helper()
	c.send(t, map[string]any{"method": method, "params": params})
}

// call sends a request and returns its result, handling what arrives
// meanwhile.
func (c *lspClient) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	c.send(t, map[string]any{"id": c.nextID, "method": method, "params": params})
	var result json.RawMessage
	c.await(t, "answer to "+method, func(m lspMessage) bool {
		if m.Method != "" || m.ID == nil || string(*m.ID) != id {
			return false
		}
		if m.Error != nil {
			t.Fatalf("%s: error %d: %s", method, m.Error.Code, m.Error.Message)
		}
		result = m.Result
		return true
	}, nil)
	return result
}

// await handles the server's messages until done accepts one, or fails
// the test after lspTimeout, saying what it waited for and, when given,
// what it had instead.
func (c *lspClient) await(t *testing.T, what string, done func(lspMessage) bool, instead func() string) {
	t.Helper()
	deadline := time.After(lspTimeout)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("the language server quit while waiting for %s", what)
			}
			c.handle(t, m)
			if done(m) {
				return
			}
		case <-deadline:
			msg := fmt.Sprintf("no %s from the language server within %s", what, lspTimeout)
			if instead != nil {
				msg += "; instead:\n" + instead()
			}
			t.Fatal(msg)
		}
	}
}

// handle records diagnostics and answers the server's own requests
// (configuration, capability registration, progress) as a plain editor
// does.
func (c *lspClient) handle(t *testing.T, m lspMessage) {
	switch {
	case m.Method == "textDocument/publishDiagnostics":
		var p struct {
			URI         string `json:"uri"`
			Diagnostics []struct {
				Range struct {
					Start struct{ Line int } `json:"start"`
				} `json:"range"`
				Message string `json:"message"`
			} `json:"diagnostics"`
		}
		if err := json.Unmarshal(m.Params, &p); err != nil {
			t.Fatal(err)
		}
		ds := []string{}
		for _, d := range p.Diagnostics {
			ds = append(ds, fmt.Sprintf("%d: %s", d.Range.Start.Line+1, d.Message))
		}
		c.published[p.URI] = append(c.published[p.URI], ds)
	case m.Method != "" && m.ID != nil:
		var result any
		if m.Method == "workspace/configuration" {
			var p struct{ Items []any }
			_ = json.Unmarshal(m.Params, &p)
			items := make([]any, len(p.Items))
			for i := range items {
				items[i] = map[string]any{}
			}
			result = items
		}
		c.send(t, map[string]any{"id": m.ID, "result": result})
	}
}

// diagnostics waits for the diagnostics of uri that include want and
// returns them; after lspTimeout it fails the test with the last ones
// published.
func (c *lspClient) diagnostics(t *testing.T, uri, want string) []string {
	t.Helper()
	var found []string
	has := func(lspMessage) bool {
		for _, ds := range c.published[uri] {
			if slices.Contains(ds, want) {
				found = ds
				return true
			}
		}
		return false
	}
	if !has(lspMessage{}) {
		c.await(t, fmt.Sprintf("diagnostic %q for %s", want, uri), has, func() string {
			pub := c.published[uri]
			if len(pub) == 0 {
				return "none published"
			}
			return strings.Join(pub[len(pub)-1], "\n")
		})
	}
	return found
}

// completion returns the labels of the completion items at a position
// (zero-based line and character).
func (c *lspClient) completion(t *testing.T, uri string, line, char int) []string {
	t.Helper()
	res := c.call(t, "textDocument/completion", map[string]any{
		"textDocument": map[string]any{"uri": uri},
		"position":     map[string]any{"line": line, "character": char},
	})
	type item struct {
		Label string `json:"label"`
	}
	var list struct {
		Items []item `json:"items"`
	}
	if err := json.Unmarshal(res, &list); err != nil || list.Items == nil {
		var items []item
		if err := json.Unmarshal(res, &items); err != nil {
			t.Fatalf("completion result %s: %v", res, err)
		}
		list.Items = items
	}
	var labels []string
	for _, it := range list.Items {
		labels = append(labels, it.Label)
	}
	return labels
}
