// The fit page's 3D view: the body model's arrays (window.EFT_BODY, data/body.js) posed in the
// browser from a fit's parameters by linear blend skinning, drawn with WebGL (no library).
"use strict";

function eftDecode(base64, Type) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Type(bytes.buffer);
}

// window.EFT_BODY -> typed arrays, decoded once.
function eftBodyModel(raw) {
  return {
    V: raw.num_vertices, S: raw.num_betas, parents: raw.parents,
    template: eftDecode(raw.template, Float32Array),
    shapedirs: eftDecode(raw.shapedirs, Float32Array), // (S, V, 3)
    jointsTemplate: eftDecode(raw.joints_template, Float32Array), // (24, 3)
    jointsShapedirs: eftDecode(raw.joints_shapedirs, Float32Array), // (S, 24, 3)
    weights: eftDecode(raw.weights, Float32Array), // (V, 24)
    faces: eftDecode(raw.faces, Uint32Array),
  };
}

// Vertices (V*3, metres, y up) of a fit: rotmats = parm_pose (24 x 3 x 3), betas = parm_shape.
// As body/model.py: shape blend, joints from the shape, kinematic chain, skinning; then turned by
// pi about x, undoing the upright turn the fit's root rotation carries (y down in the image).
function eftPose(body, rotmats, betas) {
  const { V, S, parents } = body, J = parents.length;
  const rest = Float32Array.from(body.template), joints = Float64Array.from(body.jointsTemplate);
  for (let s = 0; s < S; s++) {
    const b = betas[s] || 0;
    if (!b) continue;
    for (let i = 0; i < 3 * V; i++) rest[i] += b * body.shapedirs[s * 3 * V + i];
    for (let i = 0; i < 3 * J; i++) joints[i] += b * body.jointsShapedirs[s * 3 * J + i];
  }
  const R = (k) => rotmats[k].flat();
  const mul = (a, b) => { const o = new Array(9); for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) o[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j]; return o; };
  const apply = (m, v) => [m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2], m[6] * v[0] + m[7] * v[1] + m[8] * v[2]];
  const rot = [R(0)], pos = [[joints[0], joints[1], joints[2]]];
  for (let k = 1; k < J; k++) {
    const p = parents[k];
    rot.push(mul(rot[p], R(k)));
    const offset = apply(rot[p], [joints[3 * k] - joints[3 * p], joints[3 * k + 1] - joints[3 * p + 1], joints[3 * k + 2] - joints[3 * p + 2]]);
    pos.push([pos[p][0] + offset[0], pos[p][1] + offset[1], pos[p][2] + offset[2]]);
  }
  const maps = new Float64Array(12 * J); // per joint: rotation (9), translation (3)
  for (let k = 0; k < J; k++) {
    const t = apply(rot[k], [joints[3 * k], joints[3 * k + 1], joints[3 * k + 2]]);
    maps.set(rot[k], 12 * k);
    maps.set([pos[k][0] - t[0], pos[k][1] - t[1], pos[k][2] - t[2]], 12 * k + 9);
  }
  const out = new Float32Array(3 * V), blend = new Float64Array(12);
  for (let v = 0; v < V; v++) {
    blend.fill(0);
    for (let k = 0; k < J; k++) {
      const w = body.weights[v * J + k];
      if (w) for (let e = 0; e < 12; e++) blend[e] += w * maps[12 * k + e];
    }
    const x = rest[3 * v], y = rest[3 * v + 1], z = rest[3 * v + 2];
    out[3 * v] = blend[0] * x + blend[1] * y + blend[2] * z + blend[9];
    out[3 * v + 1] = -(blend[3] * x + blend[4] * y + blend[5] * z + blend[10]);
    out[3 * v + 2] = -(blend[6] * x + blend[7] * y + blend[8] * z + blend[11]);
  }
  return out;
}

function eftNormals(positions, faces) {
  const n = new Float32Array(positions.length);
  for (let f = 0; f < faces.length; f += 3) {
    const a = 3 * faces[f], b = 3 * faces[f + 1], c = 3 * faces[f + 2];
    const ux = positions[b] - positions[a], uy = positions[b + 1] - positions[a + 1], uz = positions[b + 2] - positions[a + 2];
    const vx = positions[c] - positions[a], vy = positions[c + 1] - positions[a + 1], vz = positions[c + 2] - positions[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const i of [a, b, c]) { n[i] += nx; n[i + 1] += ny; n[i + 2] += nz; }
  }
  return n;
}

class EftViewer {
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: true });
    if (!gl) throw new Error("no WebGL in this browser");
    if (!gl.getExtension("OES_element_index_uint")) throw new Error("WebGL lacks 32-bit indices");
    this.gl = gl;
    this.meshes = [];
    this.yaw = 0; this.pitch = 0.15; this.distance = 3.2; this.center = [0, 0, 0];
    const shader = (type, source) => { const s = gl.createShader(type); gl.shaderSource(s, source); gl.compileShader(s); if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s)); return s; };
    const program = gl.createProgram();
    gl.attachShader(program, shader(gl.VERTEX_SHADER, `
      attribute vec3 position; attribute vec3 normal; uniform mat4 view; uniform mat4 projection;
      varying vec3 n; void main() { n = mat3(view) * normal; gl_Position = projection * view * vec4(position, 1.0); }`));
    gl.attachShader(program, shader(gl.FRAGMENT_SHADER, `
      precision mediump float; uniform vec3 color; varying vec3 n;
      void main() { float d = abs(normalize(n).z); gl_FragColor = vec4(color * (0.35 + 0.65 * d), 1.0); }`));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
    this.program = program;
    this._listen();
  }

  addMesh(positions, faces, color) {
    const gl = this.gl, buffer = (target, data) => { const b = gl.createBuffer(); gl.bindBuffer(target, b); gl.bufferData(target, data, gl.STATIC_DRAW); return b; };
    this.meshes.push({ position: buffer(gl.ARRAY_BUFFER, positions), normal: buffer(gl.ARRAY_BUFFER, eftNormals(positions, faces)), index: buffer(gl.ELEMENT_ARRAY_BUFFER, faces), count: faces.length, color });
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < positions.length; i++) { lo[i % 3] = Math.min(lo[i % 3], positions[i]); hi[i % 3] = Math.max(hi[i % 3], positions[i]); }
    this.center = lo.map((l, i) => (l + hi[i]) / 2);
  }

  draw() {
    const gl = this.gl, p = this.program;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(p);
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const [x0, y0, z0] = this.center;
    // view = translate(0, 0, -distance) * rotateX(pitch) * rotateY(yaw) * translate(-center), column-major
    const r = [cy, sp * sy, -cp * sy, 0, 0, cp, sp, 0, sy, -sp * cy, cp * cy, 0];
    const t = [-(r[0] * x0 + r[4] * y0 + r[8] * z0), -(r[1] * x0 + r[5] * y0 + r[9] * z0), -(r[2] * x0 + r[6] * y0 + r[10] * z0) - this.distance];
    const view = new Float32Array([...r, ...t, 1]);
    const f = 1 / Math.tan(0.35), aspect = this.canvas.width / this.canvas.height, near = 0.05, far = 50;
    const projection = new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1, 0, 0, (2 * far * near) / (near - far), 0]);
    gl.uniformMatrix4fv(gl.getUniformLocation(p, "view"), false, view);
    gl.uniformMatrix4fv(gl.getUniformLocation(p, "projection"), false, projection);
    for (const mesh of this.meshes) {
      gl.uniform3fv(gl.getUniformLocation(p, "color"), mesh.color);
      for (const [name, buffer] of [["position", mesh.position], ["normal", mesh.normal]]) {
        const at = gl.getAttribLocation(p, name);
        gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
        gl.enableVertexAttribArray(at);
        gl.vertexAttribPointer(at, 3, gl.FLOAT, false, 0, 0);
      }
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, mesh.index);
      gl.drawElements(gl.TRIANGLES, mesh.count, gl.UNSIGNED_INT, 0);
    }
    // How many pixels the body covers, for whoever checks that the view drew (the browser test).
    const w = this.canvas.width, h = this.canvas.height, pixels = new Uint8Array(4 * w * h);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    let covered = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 250 || pixels[i + 1] < 250 || pixels[i + 2] < 250) covered++;
    this.canvas.dataset.coveredPixels = String(covered);
  }

  _listen() {
    let last = null;
    this.canvas.addEventListener("mousedown", (e) => { last = [e.clientX, e.clientY]; });
    window.addEventListener("mouseup", () => { last = null; });
    window.addEventListener("mousemove", (e) => {
      if (!last) return;
      this.yaw += (e.clientX - last[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (e.clientY - last[1]) * 0.01));
      last = [e.clientX, e.clientY];
      this.draw();
    });
    this.canvas.addEventListener("wheel", (e) => { e.preventDefault(); this.distance = Math.max(0.5, Math.min(20, this.distance * Math.exp(e.deltaY * 0.001))); this.draw(); }, { passive: false });
  }
}
