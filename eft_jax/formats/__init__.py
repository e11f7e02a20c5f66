"""File formats: the exemplar record, EFT JSON, SPIN's training npz, exemplar npz, the resumable fit
log and its run lock, the restricted unpickler for pickled data files, images, OBJ and glTF meshes.

Formats import geometry, body and render (crops, joint sets, normals) only, never datasets."""
