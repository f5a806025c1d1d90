"""stylize.mesh: mesh I/O, kaolin-style cameras, a pure-PyTorch DIB-R rasterizer and SH lighting.

- :mod:`stylize.mesh.io`: ``load_mesh`` / ``save_mesh`` (OBJ, PLY, GLB/GLTF, OFF, STL).
- :mod:`stylize.mesh.gltf`: ``GlbBuilder``, the one GLB writer; :mod:`stylize.mesh.gltf_read`,
  :mod:`stylize.mesh.gltf_scene`: glTF scenes read with their structure;
  :mod:`stylize.mesh.gltf_write`: ``write_scene_glb`` writes them back.
- :mod:`stylize.mesh.camera`: kaolin's camera functions, Text2Mesh's view sampler, orbits.
- :mod:`stylize.mesh.raster`: ``dibr_rasterization`` and ``make_renderer("torch" | "kaolin")``.
- :mod:`stylize.mesh.shading`: ``spherical_harmonic_lighting`` with Text2Mesh's lights.
"""
