import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'packages/*/dist/**', 'src/generated/**', 'coverage/**', '.data/**'],
})
