"""File formats: EFT JSON, exemplar npz, the resumable fit log, images, OBJ and glTF meshes."""
