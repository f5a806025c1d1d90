"""stylize.mesh: mesh I/O, kaolin-style cameras, a pure-PyTorch DIB-R rasterizer and SH lighting.

- :mod:`stylize.mesh.io`: ``load_mesh`` / ``save_mesh`` (OBJ, PLY, GLB/GLTF, OFF, STL).
- :mod:`stylize.mesh.gltf`: glTF in and out: ``GlbBuilder``, the one GLB writer; ``read_scene``,
  glTF scenes read with their structure; ``write_scene_glb`` writes them back.
- :mod:`stylize.mesh.camera`: kaolin's camera functions, Text2Mesh's view sampler, orbits.
- :mod:`stylize.mesh.renderer`: ``get_renderer("torch" | "kaolin")``; :mod:`stylize.mesh.raster`:
  ``dibr_rasterization``, the torch backend.
- :mod:`stylize.mesh.lighting`: ``spherical_harmonic_lighting`` with Text2Mesh's lights;
  :mod:`stylize.mesh.material`: materials (what a field predicts, shading, exported maps).
"""
