// face-api's own timing for bench/RESULTS.md (the "Face networks" section): the pinned @vladmandic/face-api on a
// TF.js backend in Node, on the same photo and the same network work as `TrgIlgpu.Bench -- faces`.
// Usage: node bench.js IMAGE [ITERS] [BACKEND: wasm|cpu]. Prints one JSON object: median milliseconds per case.
'use strict';
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const tf = faceapi.tf;

const MODEL_DIR = path.join(__dirname, '..', '..', 'weights', 'faceapi');

function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, `${name}-weights_manifest.json`), 'utf8'));
  const specs = manifest.flatMap((group) => group.weights);
  const bytes = Buffer.concat(manifest.flatMap((group) => group.paths).map((p) => fs.readFileSync(path.join(MODEL_DIR, p))));
  net.loadFromWeightMap(tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), specs));
}

async function median(iters, run) {
  await run(); // warm-up
  const ms = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return Number(ms[Math.floor(ms.length / 2)].toFixed(1));
}

async function main() {
  const [file, itersArg, backend = 'wasm'] = process.argv.slice(2);
  const iters = Number(itersArg || 5);
  await tf.setBackend(backend);
  await tf.ready();
  loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  loadNet(faceapi.nets.tinyFaceDetector, 'tiny_face_detector_model');
  loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  const { width, height, data } = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Int32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[i * 4 + c];
  const img = tf.tensor3d(rgb, [height, width, 3], 'int32');
  const ssd = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const tiny = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const found = await faceapi.detectAllFaces(img, ssd);
  const crops = await faceapi.extractFaceTensors(img, found.map((f) => f));
  const eight = Array.from({ length: 8 }, (_, i) => crops[i % crops.length]);
  const result = {
    backend: tf.getBackend(),
    image: `${path.basename(file)} ${width}x${height}`,
    faces: found.length,
    ssd_detect_ms: await median(iters, () => faceapi.detectAllFaces(img, ssd)),
    tiny416_detect_ms: await median(iters, () => faceapi.detectAllFaces(img, tiny)),
    landmarks_b1_ms: await median(iters, () => faceapi.nets.faceLandmark68Net.detectLandmarks(crops[0])),
    landmarks_b8_ms: await median(iters, () => faceapi.nets.faceLandmark68Net.detectLandmarks(eight)),
    ssd_find_with_landmarks_ms: await median(iters, () => faceapi.detectAllFaces(img, ssd).withFaceLandmarks()),
  };
  console.log(JSON.stringify(result));
}

main().catch((e) => { console.error(e); process.exit(1); });
